# tools/bench: zdd-httpload, the lab's HTTP load generator (plain libc: no libzdd, no libbpf).
HTTPLOAD_SRCS := $(wildcard tools/bench/zdd-httpload.c)
HTTPLOAD_OBJS := $(patsubst %.c,$(OUT)/%.o,$(HTTPLOAD_SRCS))
BINS += $(if $(HTTPLOAD_SRCS),$(OUT)/zdd-httpload)

$(OUT)/zdd-httpload: $(HTTPLOAD_OBJS)
	$(call msg,LINK,$@)$(CC) $(LDFLAGS) $^ -o $@

-include $(HTTPLOAD_OBJS:.o=.d)
