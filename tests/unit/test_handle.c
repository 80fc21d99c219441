// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_handle.c - pinned state outlives the program: a reload adopts the maps
 * (services, flows, sizes), the CLI's map-only open sees them, and a mismatch is refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/libbpf.h>
#include "decap.h"
#include "fixture.h"

static char pin_dir[64];

static void remove_pins(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pin_dir);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/zdd-test-%d", getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	remove_pins();
	return 0;
}

static const struct zdd_load_opts small = {
	.pin_dir = pin_dir,
	.limits = { .services = 4, .backends = 16, .maglev_m = 251, .flows = 1024, .embryos = 256 },
};

static void reload_adopts_pinned_state(void **state)
{
	struct zdd_service_key key = svc_key(SVC4);
	struct zdd_service_opts so = {};
	struct zdd_load_opts again = { .pin_dir = pin_dir };
	struct zdd_service_val val;
	struct fixture f = {};
	struct zdd *z;
	__u8 a[16] = { [10] = 0xff, [11] = 0xff, 198, 18, 3, 11 };

	(void)state;
	assert_int_equal(zdd_open_load(&z, &small), 0);
	assert_false(zdd_adopted(z));
	assert_int_equal(zdd_service_add(z, &key, &so), 0);
	assert_int_equal(zdd_backend_add(z, &key, a, ZDD_BLUE, 100, NULL, NULL), 0);
	zdd_close(z);

	/* A new program instance on the same maps: no limits given, the pinned ones hold. */
	assert_int_equal(zdd_open_load(&f.z, &again), 0);
	assert_true(zdd_adopted(f.z));
	assert_int_equal(zdd_get_limits(f.z)->maglev_m, 251);
	assert_int_equal(zdd_get_limits(f.z)->services, 4);
	assert_int_equal(zdd_service_get(f.z, &key, &val), 0);
	assert_int_equal(val.generation, 2);
	f.prog_fd = zdd_lb_prog_fd(f.z);
	{
		struct zdd_config c;
		struct pkt p = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_SYN);

		assert_int_equal(zdd_config_get(f.z, &c), 0);
		c.src4[0] = 198;
		assert_int_equal(zdd_config_set(f.z, &c), 0);
		assert_int_equal(run(&f, &p), XDP_TX);
		assert_string_equal(outer_dst(&f), "198.18.3.11");
	}
	zdd_close(f.z);

	/* The CLI's view: maps only, same state. */
	assert_int_equal(zdd_open_pinned(&z, pin_dir), 0);
	assert_int_equal(zdd_get_limits(z)->maglev_m, 251);
	assert_int_equal(zdd_service_get(z, &key, &val), 0);
	assert_int_equal(zdd_lock(z), 0);
	zdd_unlock(z);
	zdd_close(z);
}

static void other_sizes_are_refused(void **state)
{
	struct zdd_load_opts bigger = small;
	struct zdd *z;

	(void)state;
	assert_int_equal(zdd_open_load(&z, &small), 0);
	zdd_close(z);
	bigger.limits.flows = 2048;
	assert_int_equal(zdd_open_load(&z, &bigger), -EEXIST);
}

static void other_abi_is_refused(void **state)
{
	struct zdd_config c;
	struct zdd *z;

	(void)state;
	assert_int_equal(zdd_open_load(&z, &small), 0);
	assert_int_equal(zdd_config_get(z, &c), 0);
	assert_int_equal(c.abi_version, ZDD_ABI_VERSION);
	c.abi_version = ZDD_ABI_VERSION + 1; /* as a future zdd would leave them */
	assert_int_equal(zdd_config_set(z, &c), 0);
	zdd_close(z);
	assert_int_equal(zdd_open_load(&z, &small), -EPROTO);
	assert_int_equal(zdd_open_pinned(&z, pin_dir), -EPROTO);
}

static void missing_pins_are_a_clear_error(void **state)
{
	struct zdd *z;

	(void)state;
	assert_int_equal(zdd_open_pinned(&z, "/sys/fs/bpf"), -ENOENT);
	assert_int_equal(zdd_open_pinned(&z, "/tmp"), -ENOTSUP); /* not bpffs */
}

static void bad_limits_are_refused(void **state)
{
	struct zdd_load_opts o = { .limits = { .maglev_m = 1000 } }; /* not prime */
	struct zdd *z;

	(void)state;
	assert_int_equal(zdd_open_load(&z, &o), -EINVAL);
	o.limits.maglev_m = 0;
	o.limits.embryos = (1U << 30) + 1;
	assert_int_equal(zdd_open_load(&z, &o), -E2BIG);
}

/* Embryonic flows come in sets of ZDD_EMBRYO_WAYS: an odd size rounds up, and asking again
 * for the size given first adopts the maps. */
static void embryos_round_up_to_whole_sets(void **state)
{
	struct zdd_load_opts odd = small;
	struct zdd *z;

	(void)state;
	odd.limits.embryos = 255;
	assert_int_equal(zdd_open_load(&z, &odd), 0);
	assert_int_equal(zdd_get_limits(z)->embryos, 256);
	zdd_close(z);
	assert_int_equal(zdd_open_load(&z, &odd), 0);
	assert_true(zdd_adopted(z));
	assert_int_equal(zdd_get_limits(z)->embryos, 256);
	zdd_close(z);
}

static int warnings;

static int count_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN) {
		warnings++;
		vfprintf(stderr, fmt, ap);
	}
	return 0;
}

/* libbpf reports verifier complaints and map or BTF trouble as warnings: there must be none. */
static void programs_load_without_warnings(void **state)
{
	struct zdd_load_opts o = {};
	libbpf_print_fn_t old = libbpf_set_print(count_warnings);
	struct zdd_decap *d;
	struct zdd *z;

	(void)state;
	warnings = 0;
	assert_int_equal(zdd_open_load(&z, &o), 0);
	assert_int_equal(zdd_decap_open_load(&d, NULL), 0);
	zdd_decap_close(d);
	zdd_close(z);
	libbpf_set_print(old);
	assert_int_equal(warnings, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(reload_adopts_pinned_state),	   T(other_sizes_are_refused),
		T(other_abi_is_refused),	   T(missing_pins_are_a_clear_error),
		T(bad_limits_are_refused),	   T(programs_load_without_warnings),
		T(embryos_round_up_to_whole_sets),
	};

	return cmocka_run_group_tests_name("handle", tests, NULL, NULL);
}
