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

# Fuzzing (tests/fuzz): one libFuzzer harness per parser, fuzz_NAME.c, its corpus in tests/fuzz/corpus/NAME.
# `make fuzz` builds them with clang (lib/ instrumented, in $(BUILD)/fuzz) and runs each FUZZ_SECONDS,
# adding what it finds to the corpus, then minimises the corpus (FUZZ_MERGE); FUZZ_NAMES=manifest picks one.
# Crashes land in $(BUILD)/fuzz/artifacts.  The unit target builds replay_NAME (harness + tests/fuzz/replay.c,
# gcc, ASan/UBSan, no libFuzzer) that run.sh runs over the corpus.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_ARGS    ?=
FUZZ_SRC     = $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES  ?= $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_FLAGS   = -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_LIBOBJ  = $(LIB_SRC:%.c=$(BUILD)/fuzz/%.o)
FUZZ_BIN     = $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_RUN     = -max_len=4000 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
REPLAY_BIN   = $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(BUILD)/test/fuzz/replay_%)

.PHONY: all deps test unit e2e demo install clean bench fuzz fuzz-build fuzz-merge

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

$(BUILD)/test/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(TLIBOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(TFLAGS) $(BASE) $(PKG_CFLAGS) -o $@ $< tests/fuzz/replay.c $(TLIBOBJ) $(PKG_LIBS)

$(BUILD)/fuzz/lib/%.o: lib/%.c $(HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined $(BASE) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_LIBOBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined $(BASE) $(PKG_CFLAGS) -o $@ $< $(FUZZ_LIBOBJ) $(PKG_LIBS)

$(FUZZ_BIN): $(FUZZ_LIBOBJ)   # named here so make keeps the objects (no intermediate files)

fuzz-build: $(FUZZ_BIN)

# Minimise tests/fuzz/corpus/$$n in place: merge into a fresh directory (set cover over edge coverage:
# dozens of files that keep every edge), then swap.  FUZZ_MERGE=-merge=1 keeps every feature instead.
FUZZ_MERGE  ?= -set_cover_merge=1 -use_counters=0
FUZZ_MERGE_ONE = rm -rf $(BUILD)/fuzz/merge/$$n && mkdir -p $(BUILD)/fuzz/merge/$$n tests/fuzz/corpus/$$n && \
	if $(BUILD)/fuzz/fuzz_$$n $(FUZZ_MERGE) $(FUZZ_RUN) $(BUILD)/fuzz/merge/$$n tests/fuzz/corpus/$$n \
	    </dev/null >$(BUILD)/fuzz/logs/$$n.merge.log 2>&1; then \
		if [ -n "$$(ls $(BUILD)/fuzz/merge/$$n)" ]; then \
			rm -f tests/fuzz/corpus/$$n/* && mv $(BUILD)/fuzz/merge/$$n/* tests/fuzz/corpus/$$n/; fi; \
		echo "  corpus tests/fuzz/corpus/$$n: $$(ls tests/fuzz/corpus/$$n | wc -l) files, $$(cat tests/fuzz/corpus/$$n/* | wc -c) bytes"; \
	else rc=1; echo "FAIL fuzz-merge $$n: see $(BUILD)/fuzz/logs/$$n.merge.log"; fi

# One harness after the other (never in parallel); the log of each is $(BUILD)/fuzz/logs/NAME.log.
fuzz: $(FUZZ_BIN)
	@mkdir -p $(BUILD)/fuzz/logs $(BUILD)/fuzz/artifacts; rc=0; \
	for n in $(FUZZ_NAMES); do \
		mkdir -p tests/fuzz/corpus/$$n; \
		echo "fuzz_$$n: $(FUZZ_SECONDS)s, corpus tests/fuzz/corpus/$$n ($$(ls tests/fuzz/corpus/$$n | wc -l) files)"; \
		if $(BUILD)/fuzz/fuzz_$$n $(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS) \
		    -artifact_prefix=$(BUILD)/fuzz/artifacts/$$n- $(FUZZ_ARGS) tests/fuzz/corpus/$$n \
		    </dev/null >$(BUILD)/fuzz/logs/$$n.log 2>&1; then \
			$(FUZZ_MERGE_ONE); \
		else \
			rc=1; echo "FAIL fuzz_$$n: see $(BUILD)/fuzz/logs/$$n.log, input in $(BUILD)/fuzz/artifacts/"; \
			grep -m 12 -E '^(==[0-9]+==|SUMMARY|[^ ]*: runtime error|.*fuzz assertion failed|    #[0-9])' \
			    $(BUILD)/fuzz/logs/$$n.log | sed 's/^/    /'; \
		fi; \
		sed -n 's/^stat::\(number_of_executed_units\|average_exec_per_sec\|new_units_added\|peak_rss_mb\): */  \1 /p' \
		    $(BUILD)/fuzz/logs/$$n.log; \
	done; exit $$rc

fuzz-merge: $(FUZZ_BIN)
	@mkdir -p $(BUILD)/fuzz/logs; rc=0; for n in $(FUZZ_NAMES); do $(FUZZ_MERGE_ONE); done; exit $$rc

# `make test` must work on a fresh machine: deps first, then build, then the runner.
test: deps
	@$(MAKE) --no-print-directory $(BUILD)/test/fleetctl $(UNIT_BIN) $(REPLAY_BIN)
	@BUILD=$(BUILD) sh tests/run.sh

unit: $(BUILD)/test/fleetctl $(UNIT_BIN) $(REPLAY_BIN)
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
