# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, latscope(8) written from its own
# --help (scripts/manpage.sh), the systemd unit and its defaults file.
PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
ETCDIR  ?= /etc

$(BUILD)/latscope.8: $(BUILD)/latscope scripts/manpage.sh
	@echo "  MAN     $@"
	$(Q)scripts/manpage.sh $(BUILD)/latscope > $@.tmp && mv $@.tmp $@

# The unit names the binary where this install puts it.
.PHONY: install
install: $(BUILD)/latscope $(BUILD)/latscope.8 deploy/latscope.service.in
	install -D -m 0755 $(BUILD)/latscope $(DESTDIR)$(SBINDIR)/latscope
	install -D -m 0644 $(BUILD)/latscope.8 $(DESTDIR)$(MANDIR)/man8/latscope.8
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' deploy/latscope.service.in > $(DESTDIR)$(UNITDIR)/latscope.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/latscope.service
	install -D -m 0644 deploy/latscope.default $(DESTDIR)$(ETCDIR)/default/latscope
