# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# zdd - one Makefile, per-folder fragments (*/build.mk), no recursive make.
# Quiet by default (V=1 shows commands). Outputs go to $(OUT) only.

OUT      ?= .output
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

PKGS     := libbpf libelf zlib libnl-3.0 libnl-route-3.0 yaml-0.1 libmicrohttpd json-c libcap libcurl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS   ?= -O2 -g
ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif
USER_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -MMD -MP -D_GNU_SOURCE -fno-strict-aliasing \
	-Ibpf/abi -Iuserspace/lib -Iuserspace/agent -I$(OUT) $(PKG_CFLAGS) $(CFLAGS)
USER_LIBS   := $(PKG_LIBS) -lelf -lz -lm

# __always_inline forced: linux/stddef.h (reached before bpf_helpers.h) defines it as a mere
# hint, and clang then kept the flow hash as a called subprogram.
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	'-D__always_inline=inline __attribute__((always_inline))' \
	-Ibpf -Ibpf/lib -Ibpf/abi $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.PRECIOUS: $(OUT)/%.o $(OUT)/%.skel.h $(OUT)/%.tmp.bpf.o
.PHONY: all deps test demo bench fuzz install lint format clean help

include bpf/build.mk
include userspace/lib/build.mk
include userspace/agent/build.mk
include tools/zdd-bpfctl/build.mk
include tools/bench/build.mk
include tests/build.mk
# Fragments that bring their own targets (bench, fuzz, install).
-include tests/fuzz/build.mk tools/ops/build.mk

all: $(BPF_OBJS) $(LIBZDD) $(BINS) $(TEST_BINS)

$(OUT):
	$(Q)mkdir -p $@

# Debian packages the build, the tests and the demo need. Idempotent; quiet when all present.
DEB_PKGS := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libnl-3-dev libnl-route-3-dev \
	libyaml-dev libmicrohttpd-dev libjson-c-dev libcap-dev libcurl4-openssl-dev libcmocka-dev linux-libc-dev pkg-config iproute2 ethtool \
	clang-format cppcheck valgrind shellcheck nginx-light wrk curl jq prometheus mtail etcd-server etcd-client libclang-rt-dev \
	vagrant vagrant-libvirt ansible-core bird2 mandoc systemd man-db groff-base gnuplot-nox nftables conntrack haproxy
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing:" $$missing; \
		[ "$$(id -u)" = 0 ] || { echo "make deps: run as root (sudo make deps)" >&2; exit 1; }; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing \
			>/dev/null || exit 1; \
	fi

# The suite runs the unit tests three ways: plain, ASan+UBSan ($(OUT)/asan), and valgrind.
test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory OUT=$(OUT)/asan SANITIZE=1 all
	$(Q)OUT=$(OUT) tests/run $(T)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)OUT=$(OUT) tools/demo/demo.sh

FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
# cppcheck does not read system headers: it is told what libbpf's option macro expands to.
lint: deps
	$(call msg,FORMAT,check)clang-format --dry-run --Werror $(FORMAT_SRCS)
	$(call msg,CPPCHECK,userspace)cppcheck -q --error-exitcode=1 --inline-suppr \
		--enable=warning,performance,portability --std=c11 \
		-Ibpf/abi -Iuserspace/lib -Iuserspace/agent -D__linux__ \
		'-DLIBBPF_OPTS(TYPE,NAME,...)=struct TYPE NAME = {.sz = sizeof(struct TYPE), __VA_ARGS__}' \
		userspace tools tests/unit
	$(call msg,SHELLCHK,tests)shellcheck -x tests/run tests/integration/*.sh tools/demo/*.sh .ci/run
format:
	$(Q)clang-format -i $(FORMAT_SRCS)

clean:
	$(call msg,CLEAN,$(OUT))rm -rf $(OUT)

help:
	@echo "make [all]          build BPF objects, skeletons, libzdd, zdd-bpfctl and tests into $(OUT)"
	@echo "make deps           install missing Debian packages (root)"
	@echo "make test           deps + build + every test (root: BPF, netns)"
	@echo "make demo           deps + build + the network-namespace lab story (root)"
	@echo "make lint           clang-format check, cppcheck and shellcheck"
	@echo "make bench [QUICK=1] per-packet cost and scaling benchmarks (root)"
	@echo "make fuzz           the fuzzers for longer (FUZZ_SECS per target)"
	@echo "make install        [PREFIX=/usr/local] [DESTDIR=] binaries, unit, man pages, completion, /etc/zdd/zdd.yaml"
	@echo "make clean          remove $(OUT)"
	@echo "Variables: V=1 (show commands), SANITIZE=1 (ASan+UBSan), OUT=DIR, CC, CLANG, BPFTOOL"
