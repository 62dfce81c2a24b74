# ngx_x402: entry points.  See README.md and docs/.
SHELL    := /bin/bash
SRC      := $(CURDIR)
BUILD    := $(SRC)/build
NGX_SRC  := /usr/share/nginx/src
MODULE   := $(BUILD)/ngx_http_x402_module.so
NGINX    ?= /usr/sbin/nginx

MODULE_SRCS := $(wildcard ngx_x402_module/*.c ngx_x402_module/*.h \
	         ngx_x402_module/*/*.c ngx_x402_module/*/*.h \
	         lib/src/*.c lib/src/*.h lib/include/*.h)

.PHONY: all module deps lib unit tools test run install deb clean FORCE

all: module

deps:
	@scripts/install-deps
	@[ node_modules/.package-lock.json -nt package-lock.json ] \
	    || npm ci --no-audit --no-fund

module: $(MODULE)

# configure reruns nginx's feature probes (about 12 s): only when `config`
# or the list of source files changes
SRC_LIST := $(sort $(wildcard ngx_x402_module/*.c ngx_x402_module/*/*.c \
	      lib/src/*.c))

$(BUILD)/sources.txt: FORCE
	@mkdir -p $(BUILD)
	@echo '$(SRC_LIST)' | cmp -s - $@ || echo '$(SRC_LIST)' > $@

$(BUILD)/Makefile: config $(BUILD)/sources.txt
	@mkdir -p $(BUILD)
	cd $(NGX_SRC) && . ./conf_flags && ./configure \
	    --with-cc-opt="$$(dpkg-buildflags --get CFLAGS) -fPIC $$(dpkg-buildflags --get CPPFLAGS)" \
	    --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC" \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --add-dynamic-module="$(SRC)" \
	    --builddir="$(BUILD)" > $(BUILD)/configure.log 2>&1 \
	    || { tail -20 $(BUILD)/configure.log; exit 1; }

$(MODULE): $(BUILD)/Makefile $(MODULE_SRCS)
	$(MAKE) -f $(BUILD)/Makefile -C $(NGX_SRC) modules
	@printf 'load_module %s;\nevents{}\n' "$(MODULE)" > $(BUILD)/smoke.conf
	$(NGINX) -g 'error_log /dev/null; pid /dev/null;' -t -q -c $(BUILD)/smoke.conf

lib:
	$(MAKE) -C lib BUILD=$(BUILD)/lib

unit:
	$(MAKE) -C lib tests BUILD=$(BUILD)/lib

tools: lib
	$(MAKE) -C t/tools BUILD=$(BUILD)

test: deps
	$(MAKE) module unit tools
	TEST_X402_MODULE=$(MODULE) X402_BUILD=$(BUILD) scripts/prove-all $(BUILD)/test.log

run: deps
	$(MAKE) module
	scripts/run

# libFuzzer harnesses of lib/ (lib/fuzz/, docs/security.md "Fuzzing"):
# FUZZ_SECONDS per harness; fails on a crash, kept in build/fuzz/crashes/
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	$(MAKE) -C lib/fuzz run BUILD=$(BUILD)/fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

# the Debian layout: /usr/lib/nginx/modules + modules-available/enabled
install: module
	scripts/package install $(DESTDIR)

deb: module
	scripts/package deb

clean:
	rm -rf $(BUILD)

# make bench: the module against plain nginx and the reference x402 server,
# on loopback (docs/benchmarks.md); BENCH_SECONDS sets each wrk run (10)
.PHONY: bench
bench: deps
	$(MAKE) module tools
	scripts/bench
