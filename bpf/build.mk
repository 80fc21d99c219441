# bpf/: XDP and TC programs -> BPF objects -> skeletons in $(OUT).
BPF_PROGS := zdd_lb zdd_decap zdd_hcheck
BPF_OBJS  := $(patsubst %,$(OUT)/%.bpf.o,$(BPF_PROGS))
BPF_SKELS := $(patsubst %,$(OUT)/%.skel.h,$(BPF_PROGS))

# -MF/-MT spelt out: the object is compiled to a temporary name first.
$(OUT)/%.tmp.bpf.o: bpf/%.bpf.c | $(OUT)
	$(call msg,BPF,$@)$(CLANG) $(BPF_CFLAGS) -MMD -MP -MF $(OUT)/$*.bpf.d \
		-MT $@ -c $< -o $@

$(OUT)/%.bpf.o: $(OUT)/%.tmp.bpf.o
	$(call msg,GEN-OBJ,$@)$(BPFTOOL) gen object $@ $<

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)$(BPFTOOL) gen skeleton $< name $* > $@

-include $(patsubst %,$(OUT)/%.bpf.d,$(BPF_PROGS))
