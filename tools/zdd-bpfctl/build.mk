# tools/zdd-bpfctl: the operator's CLI.
BPFCTL_SRCS := $(wildcard tools/zdd-bpfctl/*.c)
BPFCTL_OBJS := $(patsubst %.c,$(OUT)/%.o,$(BPFCTL_SRCS))
BINS += $(if $(BPFCTL_SRCS),$(OUT)/zdd-bpfctl)

$(OUT)/zdd-bpfctl: $(BPFCTL_OBJS) $(LIBZDD)
	$(call msg,LINK,$@)$(CC) $(LDFLAGS) $^ $(USER_LIBS) -o $@

-include $(BPFCTL_OBJS:.o=.d)
