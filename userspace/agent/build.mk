# userspace/agent: zdd-agent. Everything but main.c also goes into an archive the tests link.
AGENT_SRCS := $(wildcard userspace/agent/*.c)
AGENT_OBJS := $(patsubst %.c,$(OUT)/%.o,$(filter-out userspace/agent/main.c,$(AGENT_SRCS)))
AGENT_LIB  := $(OUT)/libzdd-agent.a
BINS += $(if $(wildcard userspace/agent/main.c),$(OUT)/zdd-agent)

$(AGENT_LIB): $(AGENT_OBJS)
	$(call msg,AR,$@)$(AR) rcs $@ $^

$(OUT)/zdd-agent: $(OUT)/userspace/agent/main.o $(AGENT_LIB) $(LIBZDD)
	$(call msg,LINK,$@)$(CC) $(LDFLAGS) $^ $(USER_LIBS) -lpthread -o $@

-include $(AGENT_OBJS:.o=.d) $(OUT)/userspace/agent/main.d
