# offload — plain Make. `make` builds bin/, `make test` runs every test,
# `make asan` runs them under AddressSanitizer + UBSan, `make bench` prints figures.
PKG_CONFIG ?= pkg-config
CC ?= cc
PKGS := libevent libevent_pthreads hiredis libcurl jansson
SANITIZE ?=
BUILD ?= build
BIN ?= bin

CFLAGS ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wstrict-prototypes -Wwrite-strings -Werror -MMD -MP -pthread
override CFLAGS += $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) -I.
LDLIBS += $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -pthread -lm
ifneq ($(SANITIZE),)
override CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer -O1
override LDFLAGS += -fsanitize=$(SANITIZE)
endif
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

COMMON_SRC := $(wildcard common/*.c)
API_SRC := $(filter-out api/main.c,$(wildcard api/*.c))
# The dashboard's files, built into libapi as C arrays (see below).
UI_FILES := $(sort $(wildcard ui/*))
UI_GEN := $(BUILD)/gen/ui_files.c
UI_OBJ := $(BUILD)/gen/ui_files.o
WORKER_SRC := $(filter-out worker/main.c,$(wildcard worker/*.c))
LOADGEN_SRC := $(filter-out loadgen/main.c loadgen/slowsvc.c loadgen/netdelay.c,$(wildcard loadgen/*.c))
CLI_SRC := $(filter-out cli/main.c,$(wildcard cli/*.c))
HARNESS_SRC := $(wildcard tests/harness/*.c)
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BIN)/tests/%,$(wildcard tests/unit/test_*.c))
INTEG_TESTS := $(patsubst tests/integration/%.c,$(BIN)/tests/%,$(wildcard tests/integration/test_*.c))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
LIBCOMMON := $(BUILD)/libcommon.a
LIBAPI := $(BUILD)/libapi.a
LIBWORKER := $(BUILD)/libworker.a
LIBLOADGEN := $(BUILD)/libloadgen.a
LIBCLI := $(BUILD)/libcli.a
LIBHARNESS := $(BUILD)/libharness.a

PROGS := $(BIN)/api $(BIN)/worker $(BIN)/loadgen $(BIN)/slowsvc $(BIN)/offload
# Built, not installed: make bench-net's delaying proxy.
BENCH_PROGS := $(BIN)/netdelay

.PHONY: install uninstall test-install all deps build test test-unit test-integration check-build asan valgrind bench bench-net demo clean fuzz test-compose test-ui test-net
all: deps
	@$(MAKE) --no-print-directory build

deps:
	@./tools/deps.sh

build: $(PROGS) $(BENCH_PROGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
$(LIBAPI): $(call obj,$(API_SRC)) $(UI_OBJ)
$(LIBWORKER): $(call obj,$(WORKER_SRC))
$(LIBLOADGEN): $(call obj,$(LOADGEN_SRC))
$(LIBCLI): $(call obj,$(CLI_SRC))
$(LIBHARNESS): $(call obj,$(HARNESS_SRC))
$(BUILD)/lib%.a: $(BUILD)/empty.o
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

# The dashboard's files (ui/*) as C (tools/embed.sh), served by api/ui.c:
# regenerated when a file, the folder (a file added or removed) or the
# script changes.
$(UI_GEN): tools/embed.sh ui $(UI_FILES)
	@mkdir -p $(dir $@)
	./tools/embed.sh $(UI_FILES) >$@.tmp && mv $@.tmp $@
$(UI_OBJ): $(UI_GEN)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/empty.o:
	@mkdir -p $(dir $@)
	echo 'typedef int offload_empty_unit;' | $(CC) -x c -c -o $@ -

$(BIN)/api: $(call obj,api/main.c) $(LIBAPI) $(LIBCOMMON)
$(BIN)/worker: $(call obj,worker/main.c) $(LIBWORKER) $(LIBCOMMON)
$(BIN)/loadgen: $(call obj,loadgen/main.c) $(LIBLOADGEN) $(LIBCOMMON)
$(BIN)/slowsvc: $(call obj,loadgen/slowsvc.c) $(LIBLOADGEN) $(LIBCOMMON)
$(BIN)/netdelay: $(call obj,loadgen/netdelay.c) $(LIBLOADGEN) $(LIBCOMMON)
$(BIN)/offload: $(call obj,cli/main.c) $(LIBCLI) $(LIBCOMMON)
$(PROGS) $(BENCH_PROGS):
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Each test file is its own Check program; it may use any module library.
$(BIN)/tests/%: $(BUILD)/tests/unit/%.o $(LIBHARNESS) $(LIBAPI) $(LIBWORKER) $(LIBLOADGEN) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)
$(BIN)/tests/%: $(BUILD)/tests/integration/%.o $(LIBHARNESS) $(LIBAPI) $(LIBWORKER) $(LIBLOADGEN) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

check-build: $(PROGS) $(BENCH_PROGS) $(UNIT_TESTS) $(INTEG_TESTS)

# ---- plugins (worker --task NAME=plugin:FILE.so) ----
# Shared objects against include/offload/plugin.h: the example one is part of
# `build`, the integration tests' fixture of `check-build` too. Same CFLAGS as
# the rest (a SANITIZE build's plugin is meant for that build's worker); their
# -MMD dependency files go under $(BUILD) with the others.
PLUGINS := $(BIN)/plugins/hello.so
TEST_PLUGINS := $(BIN)/tests/fixtures/testplugin.so
build: $(PLUGINS) $(TEST_PLUGINS)
check-build: $(PLUGINS) $(TEST_PLUGINS)
$(BIN)/plugins/hello.so: examples/plugin/hello.c
$(BIN)/tests/fixtures/testplugin.so: tests/fixtures/testplugin.c
$(PLUGINS) $(TEST_PLUGINS):
	@mkdir -p $(dir $@) $(BUILD)/plugins
	$(CC) $(CFLAGS) -fPIC -shared -I include -MF $(BUILD)/plugins/$(notdir $@).d $(LDFLAGS) -o $@ $(filter %.c,$^)

# The README's test command. Installs missing Debian packages first (as root).
test: deps
	@./tools/check-includes.sh
	@$(MAKE) --no-print-directory check-build
	@./tools/run-tests.sh $(BIN) $(UNIT_TESTS) $(INTEG_TESTS)
	@$(MAKE) --no-print-directory test-install
	@K8S_SKIP_UNAVAILABLE=1 $(MAKE) --no-print-directory test-k8s

test-unit: deps
	@./tools/check-includes.sh
	@$(MAKE) --no-print-directory $(UNIT_TESTS)
	@./tools/run-tests.sh $(BIN) $(UNIT_TESTS)

test-integration: deps
	@$(MAKE) --no-print-directory check-build
	@./tools/run-tests.sh $(BIN) $(INTEG_TESTS)

asan: deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined BUILD=build-asan BIN=bin-asan CFLAGS="-g" check-build
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ./tools/run-tests.sh bin-asan $(patsubst $(BIN)/%,bin-asan/%,$(UNIT_TESTS) $(INTEG_TESTS))

# The API under valgrind memcheck through the integration tests that drive
# it with the most variety: any error or definite leak makes it exit 99, which fails the test.
VALGRIND_TESTS := $(BIN)/tests/test_api $(BIN)/tests/test_hostile
valgrind: deps
	@$(MAKE) --no-print-directory check-build
	@command -v valgrind >/dev/null || { echo "valgrind: apt-get install valgrind"; exit 1; }
	@OFFLOAD_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite" \
	  OFFLOAD_WRAP_ONLY=api ./tools/run-tests.sh $(BIN) $(VALGRIND_TESTS)

bench: all
	@./tools/deps.sh bench
	@./tools/bench.sh

# The figures again with a network's round trip between Redis and everyone
# else (Toxiproxy, installed with Go when missing, and bin/netdelay).
bench-net: all
	@./tools/deps.sh bench
	@./tools/bench-net.sh

demo: all
	@./tools/deps.sh bench
	@./tools/demo.sh

test-compose:
	@./tests/compose/run.sh

# The network between the workers and Redis, broken on purpose: bin/netdelay
# keeps bytes whole, in order and on time; jobs all end done through
# Toxiproxy's reset_peer, timeout and limit_data (skipped without Toxiproxy).
test-net: all
	@./tests/net/run.sh

# The dashboard in headless Chromium against a real stack (tests/ui/test_ui.py);
# screenshots under UI_OUT. Installs Chromium, its driver and Selenium when missing.
UI_OUT ?= out
test-ui: build
	@./tools/deps.sh ui
	@/usr/bin/python3 tests/ui/test_ui.py --bin $(BIN) --out $(UI_OUT)

# docker-compose.yml as a Swarm stack (deploy/swarm/): scale, kill -9, rolling update.
.PHONY: test-swarm
test-swarm:
	@./tests/swarm/run.sh

# libFuzzer targets (fuzz/*.c, built with clang by fuzz/run.sh), each run for
# FUZZ_SECONDS; fails if any found a crash (inputs under fuzz/crashes/).
FUZZ_SECONDS ?= 300
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(BUILD) BIN=$(BIN) PKG_CONFIG=$(PKG_CONFIG) ./fuzz/run.sh

# The binaries, the example plugin and the plugin ABI header (the project's
# only public header) under $(DESTDIR)$(PREFIX), with systemd units for the
# API and for workers (deploy/systemd/*.in, @PREFIX@ filled in at install
# time, so the units' ExecStart names the binaries where they went), the
# sysusers.d entry for their user, and example settings to copy to
# /etc/offload/. $(PREFIX)/lib/systemd/system is where a package puts units
# (PREFIX=/usr); systemd also reads /usr/local/lib/systemd/system.
PREFIX ?= /usr/local
UNITDIR = $(PREFIX)/lib/systemd/system
SYSUSERSDIR = $(PREFIX)/lib/sysusers.d
EXAMPLEDIR = $(PREFIX)/share/offload/examples
UNITS := offload-api.service offload-worker@.service
EXAMPLE_ENVS := api.env worker-default.env
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/offload $(DESTDIR)$(PREFIX)/lib/offload \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(EXAMPLEDIR)
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 include/offload/plugin.h $(DESTDIR)$(PREFIX)/include/offload/
	install -m 755 $(PLUGINS) $(DESTDIR)$(PREFIX)/lib/offload/
	@mkdir -p $(BUILD)/deploy
	for f in $(UNITS) $(EXAMPLE_ENVS); do sed 's|@PREFIX@|$(PREFIX)|g' deploy/systemd/$$f.in >$(BUILD)/deploy/$$f || exit 1; done
	install -m 644 $(addprefix $(BUILD)/deploy/,$(UNITS)) $(DESTDIR)$(UNITDIR)/
	install -m 644 deploy/systemd/offload.sysusers $(DESTDIR)$(SYSUSERSDIR)/offload.conf
	install -m 644 $(addprefix $(BUILD)/deploy/,$(EXAMPLE_ENVS)) $(DESTDIR)$(EXAMPLEDIR)/

# Removes what install put there, and the directories that are offload's own
# when they are empty. /etc/offload, /var/lib/offload and the offload user
# are the administrator's: left alone.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(PROGS))) \
	  $(DESTDIR)$(PREFIX)/include/offload/plugin.h \
	  $(addprefix $(DESTDIR)$(PREFIX)/lib/offload/,$(notdir $(PLUGINS))) \
	  $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) \
	  $(DESTDIR)$(SYSUSERSDIR)/offload.conf \
	  $(addprefix $(DESTDIR)$(EXAMPLEDIR)/,$(EXAMPLE_ENVS))
	for d in $(DESTDIR)$(PREFIX)/include/offload $(DESTDIR)$(PREFIX)/lib/offload $(DESTDIR)$(EXAMPLEDIR) $(DESTDIR)$(PREFIX)/share/offload; do \
	  [ ! -d "$$d" ] || rmdir --ignore-fail-on-non-empty "$$d" || exit 1; done

# install and uninstall into a temporary DESTDIR (PREFIX=/usr): the tree, the
# modes, the units' ExecStart paths and `systemd-analyze verify` on the units.
test-install: build
	@MAKE="$(MAKE)" BIN=$(BIN) BUILD=$(BUILD) PROGS="$(notdir $(PROGS))" PLUGINS="$(notdir $(PLUGINS))" \
	  UNITS="$(UNITS)" EXAMPLE_ENVS="$(EXAMPLE_ENVS)" ./tests/install/run.sh

# deploy/k8s checked offline (no cluster): kustomize build, strict decoding
# into the Kubernetes types, offload's rules (tools/k8s-validate); needs Go.
.PHONY: test-k8s
test-k8s:
	@BUILD=$(BUILD) ./tools/check-k8s.sh

clean:
	rm -rf build build-asan bin bin-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
