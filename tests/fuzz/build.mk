# tests/fuzz: libFuzzer targets (clang, ASan + UBSan) on the config loader, the argument
# parsers and the agent's control requests, and the long run of the packet fuzzer. `make fuzz`
# runs each for FUZZ_SECS; the suite runs them briefly (tests/integration/test-fuzz.sh). The
# sources they need are compiled again here with clang and coverage instrumentation: libzdd.a
# and the agent's archive are gcc's and have none.
FUZZ_TARGETS  := fuzz_conf fuzz_args fuzz_control
FUZZ_DIR      := $(OUT)/fuzz
FUZZ_BINS     := $(patsubst %,$(FUZZ_DIR)/%,$(FUZZ_TARGETS))
FUZZ_LIB_SRCS := userspace/lib/conffile.c userspace/lib/addr.c userspace/agent/control_req.c
FUZZ_LIB_OBJS := $(patsubst userspace/%.c,$(FUZZ_DIR)/%.o,$(FUZZ_LIB_SRCS))
FUZZ_OBJS     := $(patsubst %,$(FUZZ_DIR)/%.o,$(FUZZ_TARGETS)) $(FUZZ_LIB_OBJS)
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   := -g -O1 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP \
	-Ibpf/abi -Iuserspace/lib -Iuserspace/agent \
	$(shell pkg-config --cflags yaml-0.1 json-c 2>/dev/null) -fsanitize=fuzzer-no-link $(FUZZ_SAN)
FUZZ_LIBS     := $(or $(shell pkg-config --libs yaml-0.1 json-c 2>/dev/null),-lyaml -ljson-c)
FUZZ_SECS     ?= 60
FUZZ_PACKETS  ?= 5000000
FUZZ_RUN       = ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(FUZZ_DIR)/$(1) \
	-max_total_time=$(2) -timeout=10 -print_final_stats=1 -dict=tests/fuzz/$(1).dict \
	-artifact_prefix=$(FUZZ_DIR)/artifacts/$(1)- $(FUZZ_DIR)/corpus/$(1) tests/fuzz/corpus/$(1)

.PHONY: fuzz-build

$(FUZZ_LIB_OBJS): $(FUZZ_DIR)/%.o: userspace/%.c
	@mkdir -p $(@D)
	$(call msg,CC-FUZZ,$@)$(CLANG) $(FUZZ_CFLAGS) -MF $(@:.o=.d) -MT $@ -c $< -o $@

$(patsubst %,$(FUZZ_DIR)/%.o,$(FUZZ_TARGETS)): $(FUZZ_DIR)/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	$(call msg,CC-FUZZ,$@)$(CLANG) $(FUZZ_CFLAGS) -MF $(@:.o=.d) -MT $@ -c $< -o $@

$(FUZZ_BINS): $(FUZZ_DIR)/%: $(FUZZ_DIR)/%.o $(FUZZ_LIB_OBJS)
	$(call msg,LINK,$@)$(CLANG) -fsanitize=fuzzer $(FUZZ_SAN) $^ $(FUZZ_LIBS) -o $@

fuzz-build: $(FUZZ_BINS)

# Long runs: each target from its seed corpus (new inputs kept in $(FUZZ_DIR)/corpus, crashes in
# $(FUZZ_DIR)/artifacts), then FUZZ_PACKETS frames through the XDP program (root: it needs
# BPF_PROG_TEST_RUN). Every part runs; the failed ones are listed at the end.
fuzz: $(FUZZ_BINS) $(OUT)/tests/test_fuzz_packets
	$(Q)mkdir -p $(FUZZ_DIR)/artifacts; failed=; \
	for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus/$$t; \
		echo "  FUZZ     $$t for $(FUZZ_SECS) s (log: $(FUZZ_DIR)/$$t.log)"; \
		if $(call FUZZ_RUN,$$t,$(FUZZ_SECS)) >$(FUZZ_DIR)/$$t.log 2>&1; then \
			grep -h '^stat::number_of_executed_units' $(FUZZ_DIR)/$$t.log; \
		else \
			tail -n 30 $(FUZZ_DIR)/$$t.log; failed="$$failed $$t"; \
		fi; \
	done; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "  FUZZ     $(FUZZ_PACKETS) frames through zdd_xdp_lb"; \
		ZDD_FUZZ_PACKETS=$(FUZZ_PACKETS) $(OUT)/tests/test_fuzz_packets || \
			failed="$$failed test_fuzz_packets"; \
	else \
		echo "  SKIP     the packet fuzzer needs root (sudo make fuzz)"; \
	fi; \
	[ -z "$$failed" ] || { echo "make fuzz: failed:$$failed" >&2; exit 1; }

-include $(FUZZ_OBJS:.o=.d)
