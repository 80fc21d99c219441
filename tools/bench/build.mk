# tools/bench: the benchmarks and their tools.
#   zdd-httpload  HTTP load from many client addresses (plain libc)
#   zdd-pktgen    frames out of an interface from BPF_PROG_TEST_RUN live frames (libzdd, libbpf)
# BPF programs used only by benchmarks live in bpf/bench/ and are built here, with the flags
# of bpf/build.mk, into $(OUT) like the others (static pattern rules: they win over the
# generic ones of bpf/build.mk).
HTTPLOAD_SRCS := $(wildcard tools/bench/zdd-httpload.c)
HTTPLOAD_OBJS := $(patsubst %.c,$(OUT)/%.o,$(HTTPLOAD_SRCS))
BINS += $(if $(HTTPLOAD_SRCS),$(OUT)/zdd-httpload)

$(OUT)/zdd-httpload: $(HTTPLOAD_OBJS)
	$(call msg,LINK,$@)$(CC) $(LDFLAGS) $^ -o $@

-include $(HTTPLOAD_OBJS:.o=.d)

BENCH_BPF_PROGS := zdd_pktgen
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
