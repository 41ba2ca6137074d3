# Build, try and test pop3d. `make help` lists the targets.
CARGO ?= cargo
DEMO_DIR := target/demo
DEMO_PORT ?= 1110
DEMO_MGMT_PORT ?= 6000
DEMO_TLS_PORT ?= 1995

.PHONY: all build install demo test unit interop bench fuzz soak clean help

# Where `make install` puts things; DESTDIR prefixes every path (packaging).
PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
# The unit reads /etc/pop3d.conf whatever the prefix.
SYSCONFDIR ?= /etc
# Where the built binaries are taken from.
RELEASE_DIR ?= target/release

all: build ## build release binaries and link ./run and ./admin_monitor
	cp target/release/pop3d ./run
	cp target/release/admin_monitor ./admin_monitor

build:
	$(CARGO) build --release --bins

install: build ## install pop3d, admin_monitor, man pages, the systemd unit and /etc/pop3d.conf (if absent)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSCONFDIR)
	install -m 0755 $(RELEASE_DIR)/pop3d $(DESTDIR)$(SBINDIR)/pop3d
	install -m 0755 $(RELEASE_DIR)/admin_monitor $(DESTDIR)$(BINDIR)/admin_monitor
	install -m 0644 man/pop3d.8 $(DESTDIR)$(MANDIR)/man8/pop3d.8
	install -m 0644 man/admin_monitor.1 $(DESTDIR)$(MANDIR)/man1/admin_monitor.1
	sed 's|@SBINDIR@|$(SBINDIR)|g' contrib/pop3d.service > $(DESTDIR)$(SYSTEMDUNITDIR)/pop3d.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/pop3d.service
	@# A configuration already there is the administrator's: never replaced.
	test -e $(DESTDIR)$(SYSCONFDIR)/pop3d.conf || install -m 0644 contrib/pop3d.conf $(DESTDIR)$(SYSCONFDIR)/pop3d.conf

demo: all ## run the server on 127.0.0.1:1110 (POP3S on 1995) with a copy of testdata/maildir
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	cp -r testdata/maildir $(DEMO_DIR)/mail
	@# A throwaway self-signed certificate, so that TLS can be tried at once.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
		-keyout $(DEMO_DIR)/key.pem -out $(DEMO_DIR)/cert.pem 2>/dev/null
	@echo
	@echo "pop3d demo: users alice:alice and bob:bob, admin admin:admin"
	@echo "  curl pop3://alice:alice@127.0.0.1:$(DEMO_PORT)/        # list alice's messages"
	@echo "  curl pop3://alice:alice@127.0.0.1:$(DEMO_PORT)/1       # fetch message 1"
	@echo "  curl --cacert $(DEMO_DIR)/cert.pem pop3s://alice:alice@localhost:$(DEMO_TLS_PORT)/1   # over TLS"
	@echo "  telnet 127.0.0.1 $(DEMO_PORT)                          # then USER alice, PASS alice, LIST, RETR 1, QUIT"
	@echo "  ./admin_monitor 1.0 admin admin -STATUS             # management"
	@echo "Stop with Ctrl-C."
	@echo
	./run 127.0.0.1 $(DEMO_PORT) -d $(DEMO_DIR)/mail --mgmt-port $(DEMO_MGMT_PORT) \
		--tls-cert $(DEMO_DIR)/cert.pem --tls-key $(DEMO_DIR)/key.pem --tls-port $(DEMO_TLS_PORT) \
		-u alice:alice bob:bob

test: ## run every test (unit, integration against the real server, real clients)
	$(CARGO) test --release

interop: all ## fetch the demo mailbox with fetchmail, mpop, getmail6, Claws Mail, Jakarta Mail, neomutt and Thunderbird, in clear text and over TLS
	tests/interop/run.sh
	tests/interop/thunderbird.sh

# Fuzzing (cargo-fuzz, libFuzzer). libFuzzer needs the nightly-only flags
# -Zsanitizer=address and -Cpasses=sancov-module; this machine has only a
# stable toolchain, so fuzz/run.sh sets RUSTC_BOOTSTRAP=1, which lets stable
# rustc accept them (the sanitizer runtimes ship with stable rust-std).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= pop3_command mgmt_command sasl_plain line_framing encoder pop3_session proxy_header

fuzz: ## run every fuzz target for FUZZ_SECONDS (default 60) each; fails on a crash
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The soak: SOAK_SECONDS (default 180) of mixed load against the real
# server, then checks for errors, lost mail, and RSS/descriptor leaks.
SOAK_SECONDS ?= 180

soak: ## a few minutes of mixed load on the real server, then leak and lost-mail checks
	SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) test --release --test soak -- --ignored --nocapture

BENCH_OUT := target/bench
BENCH_USER ?= pop3bench

bench: ## pop3d vs Dovecot on loopback; BENCH_QUICK=1 for a fast, smaller run, BENCH_ONLY=row,... for some rows
	@command -v dovecot >/dev/null && test -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-core dovecot-pop3d fonts-dejavu-core)
	@id -u $(BENCH_USER) >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin $(BENCH_USER)
	$(CARGO) build --release --bins
	$(CARGO) build --release -p pop3-bench
	mkdir -p $(BENCH_OUT)/run
	@# Servers die with the benchmark; the trap covers a benchmark killed hard.
	trap 'for f in $(BENCH_OUT)/run/*.pid; do [ -e "$$f" ] && kill -9 $$(cat "$$f") 2>/dev/null; rm -f "$$f"; done' EXIT INT TERM; \
		target/release/pop3-bench --pop3d target/release/pop3d --out $(BENCH_OUT) --dovecot-user $(BENCH_USER)

clean:
	$(CARGO) clean
	rm -f run admin_monitor

help:
	@grep -E '^[a-z]+:.*## ' Makefile | sed 's/:.*## /\t/'
