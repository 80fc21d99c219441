# tools/ops: `make install` - the binaries, the systemd unit, the man pages, bash completion, an
# example /etc/zdd/zdd.yaml (never over an existing one) and the operators' files (Grafana
# dashboard, Prometheus rules, Ansible playbook, the ECMP document). No BPF object: the
# skeletons embed them. `make install DESTDIR=/tmp/stage PREFIX=/usr` stages a package.
# `make uninstall` removes what install put there, except the config.

PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DOCDIR     ?= $(DATADIR)/doc/zdd
UNITDIR    ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
SYSCONFDIR ?= /etc
INSTALL    ?= install

OPS := tools/ops
OPS_BINS := $(OUT)/zdd-bpfctl $(OUT)/zdd-agent
OPS_MAN8 := $(OPS)/man/zdd-bpfctl.8 $(OPS)/man/zdd-agent.8
OPS_MAN5 := $(OPS)/man/zdd.yaml.5
OPS_SHARE := $(OPS)/grafana/zdd-dashboard.json $(OPS)/prometheus/zdd-alerts.yml \
	$(OPS)/prometheus/prometheus.yml
OPS_ANSIBLE := $(wildcard $(OPS)/ansible/*.yml $(OPS)/ansible/*.ini \
	$(OPS)/ansible/roles/*/*/*.yml)

# The unit and the man pages name the default paths; installed, they name these.
OPS_PATHS = sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' -e 's|/usr/local/share/doc/zdd/|$(DOCDIR)/|g' \
	-e 's|/usr/local/share/zdd/|$(DATADIR)/zdd/|g' -e 's|/etc/zdd/|$(SYSCONFDIR)/zdd/|g'

.PHONY: uninstall

install: $(OPS_BINS)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))$(INSTALL) -d $(DESTDIR)$(SBINDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(DATADIR)/zdd/ansible $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(SYSCONFDIR)/zdd
	$(Q)$(INSTALL) -m 0755 $(OPS_BINS) $(DESTDIR)$(SBINDIR)/
	$(Q)for f in $(OPS_MAN8) $(OPS_MAN5) $(OPS)/systemd/zdd-agent.service; do \
		case $$f in *.8) d=$(MANDIR)/man8 ;; *.5) d=$(MANDIR)/man5 ;; *) d=$(UNITDIR) ;; esac; \
		$(OPS_PATHS) $$f >$(DESTDIR)$$d/$${f##*/}.tmp && chmod 0644 $(DESTDIR)$$d/$${f##*/}.tmp && \
		mv -f $(DESTDIR)$$d/$${f##*/}.tmp $(DESTDIR)$$d/$${f##*/} || exit 1; \
	done
	$(Q)$(INSTALL) -m 0644 $(OPS)/completion/zdd-bpfctl.bash $(DESTDIR)$(BASHCOMPDIR)/zdd-bpfctl
	$(Q)$(INSTALL) -m 0644 $(OPS_SHARE) $(DESTDIR)$(DATADIR)/zdd/
	$(Q)for f in $(OPS_ANSIBLE); do \
		$(INSTALL) -D -m 0644 $$f $(DESTDIR)$(DATADIR)/zdd/ansible/$${f#$(OPS)/ansible/} || exit 1; \
	done
	$(Q)$(INSTALL) -m 0644 $(OPS)/ecmp.md $(DESTDIR)$(DOCDIR)/
	$(Q)$(INSTALL) -m 0644 $(OPS)/zdd.yaml $(DESTDIR)$(DATADIR)/zdd/zdd.yaml.example
	$(Q)if [ -e $(DESTDIR)$(SYSCONFDIR)/zdd/zdd.yaml ]; then \
		echo "  KEEP     $(DESTDIR)$(SYSCONFDIR)/zdd/zdd.yaml (example: $(DATADIR)/zdd/zdd.yaml.example)"; \
	else \
		$(INSTALL) -m 0644 $(OPS)/zdd.yaml $(DESTDIR)$(SYSCONFDIR)/zdd/zdd.yaml; \
	fi

uninstall:
	$(call msg,UNINST,$(DESTDIR)$(PREFIX))rm -f $(DESTDIR)$(SBINDIR)/zdd-bpfctl \
		$(DESTDIR)$(SBINDIR)/zdd-agent $(DESTDIR)$(MANDIR)/man8/zdd-bpfctl.8 \
		$(DESTDIR)$(MANDIR)/man8/zdd-agent.8 $(DESTDIR)$(MANDIR)/man5/zdd.yaml.5 \
		$(DESTDIR)$(UNITDIR)/zdd-agent.service $(DESTDIR)$(BASHCOMPDIR)/zdd-bpfctl
	$(Q)rm -rf $(DESTDIR)$(DATADIR)/zdd $(DESTDIR)$(DOCDIR)
