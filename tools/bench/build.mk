# tools/bench: the benchmarks and their tools.
#   zdd-httpload  HTTP load from many client addresses (plain libc and libm)
#   zdd-pktgen    frames out of an interface from BPF_PROG_TEST_RUN live frames (libzdd, libbpf)
#   zdd-bench     `make bench`: ns/packet against floors, scaling, Maglev and weight-change times
# BPF programs used only by benchmarks live in bpf/bench/ and are built here, with the flags
# of bpf/build.mk, into $(OUT) like the others (static pattern rules: they win over the
# generic ones of bpf/build.mk).
HTTPLOAD_SRCS := $(wildcard tools/bench/zdd-httpload.c)
HTTPLOAD_OBJS := $(patsubst %.c,$(OUT)/%.o,$(HTTPLOAD_SRCS))
BINS += $(if $(HTTPLOAD_SRCS),$(OUT)/zdd-httpload)

$(OUT)/zdd-httpload: $(HTTPLOAD_OBJS)
	$(call msg,LINK,$@)$(CC) $(LDFLAGS) $^ -lm -o $@

-include $(HTTPLOAD_OBJS:.o=.d)

BENCH_BPF_PROGS := zdd_pktgen zdd_bench
BENCH_BPF_TMPS  := $(patsubst %,$(OUT)/%.tmp.bpf.o,$(BENCH_BPF_PROGS))
BENCH_BPF_OBJS  := $(patsubst %,$(OUT)/%.bpf.o,$(BENCH_BPF_PROGS))
BENCH_BPF_SKELS := $(patsubst %,$(OUT)/%.skel.h,$(BENCH_BPF_PROGS))

$(BENCH_BPF_TMPS): $(OUT)/%.tmp.bpf.o: bpf/bench/%.bpf.c | $(OUT)
	$(call msg,BPF,$@)$(CLANG) $(BPF_CFLAGS) -MMD -MP -MF $(OUT)/$*.bpf.d -MT $@ -c $< -o $@

$(BENCH_BPF_OBJS): $(OUT)/%.bpf.o: $(OUT)/%.tmp.bpf.o
	$(call msg,GEN-OBJ,$@)$(BPFTOOL) gen object $@ $<

$(BENCH_BPF_SKELS): $(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)$(BPFTOOL) gen skeleton $< name $* > $@

-include $(patsubst %,$(OUT)/%.bpf.d,$(BENCH_BPF_PROGS))

# zdd-pktgen
PKTGEN_OBJS := $(OUT)/tools/bench/zdd-pktgen.o
BINS += $(OUT)/zdd-pktgen

$(PKTGEN_OBJS): $(OUT)/zdd_pktgen.skel.h

$(OUT)/zdd-pktgen: $(PKTGEN_OBJS) $(LIBZDD)
	$(call msg,LINK,$@)$(CC) $(LDFLAGS) $^ $(USER_LIBS) -lm -lpthread -o $@

-include $(PKTGEN_OBJS:.o=.d)

# zdd-bench: the packet builders of the unit tests make its frames.
BENCH_OBJS := $(OUT)/tools/bench/zdd-bench.o $(OUT)/tests/unit/pkt.o
BINS += $(OUT)/zdd-bench

$(OUT)/tools/bench/zdd-bench.o: $(OUT)/zdd_bench.skel.h
$(OUT)/tools/bench/zdd-bench.o: USER_CFLAGS += -Itests/unit

$(OUT)/zdd-bench: $(BENCH_OBJS) $(LIBZDD)
	$(call msg,LINK,$@)$(CC) $(LDFLAGS) $^ $(USER_LIBS) -o $@

-include $(OUT)/tools/bench/zdd-bench.d

# make bench [QUICK=1]: as root; the results also go to $(OUT)/bench-results.json and, for the
# lab throughput (tools/bench/lab-throughput.sh), $(OUT)/bench-lab.json.
BENCH_ARGS = $(if $(QUICK),--quick) -o $(OUT)/bench-results.json --bpfctl $(OUT)/zdd-bpfctl \
	--plot-dir $(OUT)
bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)[ "$$(id -u)" = 0 ] || { echo "make bench: run as root (sudo make bench)" >&2; exit 1; }
	$(Q)mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	$(Q)$(OUT)/zdd-bench $(BENCH_ARGS)
	$(Q)OUT=$(OUT) tools/bench/lab-throughput.sh $(if $(QUICK),--quick) -o $(OUT)/bench-lab.json
