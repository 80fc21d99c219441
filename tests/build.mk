# tests/unit: one cmocka binary per area, each linked with libzdd.
TEST_SRCS := $(filter tests/unit/test_%.c,$(wildcard tests/unit/*.c))
TEST_HELPER_SRCS := $(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))
TEST_HELPER_OBJS := $(patsubst %.c,$(OUT)/%.o,$(TEST_HELPER_SRCS))
TEST_BINS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(TEST_SRCS))

$(OUT)/tests/%: $(OUT)/tests/unit/%.o $(TEST_HELPER_OBJS) $(AGENT_LIB) $(LIBZDD)
	@mkdir -p $(@D)
	$(call msg,LINK,$@)$(CC) $(LDFLAGS) $^ $(USER_LIBS) -lcmocka -lpthread -o $@

-include $(TEST_BINS:$(OUT)/tests/%=$(OUT)/tests/unit/%.d) $(TEST_HELPER_OBJS:.o=.d)
