// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_handle.c - pinned state outlives the program: a reload adopts the maps
 * (services, flows, sizes), the CLI's map-only open sees them, and a mismatch is refused; the
 * pin directory is made, a BPF filesystem mounted when allowed. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <bpf/libbpf.h>
#include "decap.h"
#include "hcheck.h"
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

/* Pins an older zdd left lack the maps it did not have (zdd_adopted before ABI 6): the error
 * names the version, not a broken install. */
static void older_abi_missing_a_map_is_refused_by_version(void **state)
{
	struct zdd_config c;
	char path[128];
	struct zdd *z;

	(void)state;
	assert_int_equal(zdd_open_load(&z, &small), 0);
	assert_int_equal(zdd_config_get(z, &c), 0);
	c.abi_version = 5;
	assert_int_equal(zdd_config_set(z, &c), 0);
	zdd_close(z);
	snprintf(path, sizeof(path), "%s/zdd_adopted", pin_dir);
	assert_int_equal(unlink(path), 0);
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

/* A fresh machine: the pin directory's parents are missing too. */
static void pin_dir_parents_are_created(void **state)
{
	struct zdd_load_opts o = small;
	char nested[96];
	struct stat st;
	struct zdd *z;

	(void)state;
	snprintf(nested, sizeof(nested), "%s/a/b", pin_dir);
	assert_int_equal(zdd_open_pinned(&z, nested), -ENOENT);
	o.pin_dir = nested;
	assert_int_equal(zdd_open_load(&z, &o), 0);
	zdd_close(z);
	assert_int_equal(stat(pin_dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700); /* pins are root's alone */
	assert_int_equal(zdd_open_pinned(&z, nested), 0);
	zdd_close(z);
}

/* Off a BPF filesystem and outside /sys/fs/bpf: refused, even when allowed to mount, and
 * nothing created. */
static void pin_dir_off_bpffs_is_refused(void **state)
{
	struct zdd_load_opts o = { .mount_bpffs = true };
	char dir[64];
	struct zdd *z;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/zdd-test-%d/pins", getpid());
	o.pin_dir = dir;
	assert_int_equal(zdd_open_load(&z, &o), -ENOTSUP);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(access(dir, F_OK), -1);
}

static bool bpffs_mounted(void)
{
	struct statfs st;

	return !statfs("/sys/fs/bpf", &st) && st.f_type == BPF_FS_MAGIC;
}

/* In a mount namespace of its own with no BPF filesystem: refused unless allowed to mount,
 * then mounted. A child's exit status: 0 when it went so, 77 when it could not set up. */
static int on_fresh_machine(void)
{
	struct zdd_load_opts o = small;
	struct zdd *z;
	int i;

	if (unshare(CLONE_NEWNS) || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL))
		return 77;
	for (i = 0; i < 8 && bpffs_mounted(); i++) /* the host may have stacked mounts */
		umount2("/sys/fs/bpf", MNT_DETACH);
	if (bpffs_mounted())
		return 77;
	if (zdd_open_load(&z, &o) != -ENOTSUP)
		return 1;
	o.mount_bpffs = true;
	if (zdd_open_load(&z, &o))
		return 2;
	zdd_close(z);
	return bpffs_mounted() ? 0 : 3;
}

static void bpffs_is_mounted_when_allowed(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	fflush(NULL); /* the child exits through exit(): nothing buffered may go out twice */
	pid = fork();
	assert_true(pid >= 0);
	/* exit(), not _exit(): the libraries' destructors run, so valgrind reports no leak. The
	 * namespace and its mount go with the child. */
	if (!pid)
		exit(on_fresh_machine());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(bpffs_mounted()); /* ours untouched */
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
	o.limits.embryos = 0;
	o.limits.backends = ZDD_MAX_BACKENDS + 1; /* a Maglev row's id is 16 bits */
	assert_int_equal(zdd_open_load(&z, &o), -E2BIG);
	o.limits.backends = ZDD_MAX_BACKENDS;
	assert_int_equal(zdd_open_load(&z, &o), 0);
	zdd_close(z);
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
	struct zdd_hc *hc;
	struct zdd *z;

	(void)state;
	warnings = 0;
	assert_int_equal(zdd_open_load(&z, &o), 0);
	assert_int_equal(zdd_decap_open_load(&d, NULL, false), 0);
	assert_int_equal(zdd_hc_open(&hc, z, 0), 0); /* with the balancer's own maps */
	zdd_hc_close(hc);
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
		T(other_abi_is_refused),	   T(older_abi_missing_a_map_is_refused_by_version),
		T(missing_pins_are_a_clear_error), T(bad_limits_are_refused),
		T(programs_load_without_warnings), T(embryos_round_up_to_whole_sets),
		T(pin_dir_parents_are_created),	   T(pin_dir_off_bpffs_is_refused),
		T(bpffs_is_mounted_when_allowed),
	};

	return cmocka_run_group_tests_name("handle", tests, NULL, NULL);
}
