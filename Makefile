# fleetctl — plain Makefile.  `make` builds ./fleetctl; `make test` installs what is missing, builds
# a sanitized -Werror binary and runs every test; `make demo` runs the main job against a local fleet.

CC      ?= gcc
BUILD   ?= build
PREFIX  ?= /usr/local
PKGS     = libssh2 libgit2 libarchive inih jansson libcrypto zlib

WARN     = -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wvla -Wundef -Wcast-align -Wwrite-strings -Wno-unused-parameter \
           -Wimplicit-fallthrough -Wnull-dereference
BASE     = -std=c17 -D_GNU_SOURCE -pthread $(WARN)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS  ?= -O2 -g
TFLAGS   = -O1 -g -Werror -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC  = $(sort $(wildcard lib/*.c))
CMD_SRC  = $(sort $(wildcard cmd/*.c))
SRC      = fleetctl.c $(CMD_SRC) $(LIB_SRC)
HDR      = $(wildcard lib/*.h cmd/*.h)
UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))

OBJ      = $(SRC:%.c=$(BUILD)/rel/%.o)
TOBJ     = $(SRC:%.c=$(BUILD)/test/%.o)
TLIBOBJ  = $(LIB_SRC:%.c=$(BUILD)/test/%.o)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/test/unit/%)

.PHONY: all deps test unit e2e demo install clean bench

all: fleetctl

deps:
	@sh scripts/deps.sh

fleetctl: $(OBJ)
	$(CC) $(CFLAGS) $(BASE) -o $@ $(OBJ) $(PKG_LIBS)

$(BUILD)/rel/%.o: %.c $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASE) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/test/%.o: %.c $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(TFLAGS) $(BASE) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/test/fleetctl: $(TOBJ)
	$(CC) $(TFLAGS) $(BASE) -o $@ $(TOBJ) $(PKG_LIBS)

$(BUILD)/test/unit/%: tests/unit/%.c tests/unit/check.h $(TLIBOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(TFLAGS) $(BASE) $(PKG_CFLAGS) -o $@ $< $(TLIBOBJ) $(PKG_LIBS)

# `make test` must work on a fresh machine: deps first, then build, then the runner.
test: deps
	@$(MAKE) --no-print-directory $(BUILD)/test/fleetctl $(UNIT_BIN)
	@BUILD=$(BUILD) sh tests/run.sh

unit: $(BUILD)/test/fleetctl $(UNIT_BIN)
	@BUILD=$(BUILD) sh tests/run.sh --unit

demo: deps
	@$(MAKE) --no-print-directory fleetctl
	@sh scripts/demo.sh

bench: deps
	@sh scripts/deps.sh --bench
	@$(MAKE) --no-print-directory fleetctl
	@echo "run bench/exec.sh N or bench/push.sh N"

install: fleetctl
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 0755 fleetctl $(DESTDIR)$(PREFIX)/bin/fleetctl
	install -m 0644 man/fleetctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/fleetctl.1
	install -m 0644 man/fleet.ini.5 $(DESTDIR)$(PREFIX)/share/man/man5/fleet.ini.5

clean:
	rm -rf $(BUILD) fleetctl
