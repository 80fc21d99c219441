# userspace/lib: libzdd, linked statically into every binary and test.
LIBZDD_SRCS := $(wildcard userspace/lib/*.c)
LIBZDD_OBJS := $(patsubst %.c,$(OUT)/%.o,$(LIBZDD_SRCS))
LIBZDD      := $(OUT)/libzdd.a

# Every userspace object may include a skeleton.
$(OUT)/%.o: %.c $(BPF_SKELS)
	@mkdir -p $(@D)
	$(call msg,CC,$@)$(CC) $(USER_CFLAGS) -c $< -o $@

$(LIBZDD): $(LIBZDD_OBJS)
	$(call msg,AR,$@)$(AR) rcs $@ $^

-include $(LIBZDD_OBJS:.o=.d)
