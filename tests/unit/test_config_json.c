// SPDX-License-Identifier: MIT
/*
 * vmm run --config and --print-config: Cloud Hypervisor's VmConfig to our
 * options and back, through the command line's own parser.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/cli.h"
#include "vmm/config_json.h"
#include "vmm/vm.h"

static char dir[] = "/tmp/vmm-config-XXXXXX";

static void setup(void)
{
	cr_redirect_stderr();
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chdir(dir), 0);
	fclose(fopen("bz", "w"));
	fclose(fopen("root.img", "w"));
}

TestSuite(config_json, .init = setup);

static int run_args(struct vm_config *cfg, const char *const *args)
{
	char *argv[64];
	int argc = 0, done;

	argv[argc++] = (char *)"run";
	while (*args)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	return cli_parse_run(argc, argv, cfg, &done);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

/* What `vmm run ARGS --print-config` would print. */
static char *printed(const char *const *args)
{
	struct vm_config cfg;

	cr_assert_eq(run_args(&cfg, args), 0);
	return vm_config_json_encode(&cfg);
}

static int decode(const char *text, char *why, size_t len)
{
	struct vm_config_args a = { 0 };
	int ret = vm_config_json_decode(text, strlen(text), &a, why, len);

	vm_config_args_free(&a);
	return ret;
}

Test(config_json, print_config_round_trips_a_long_command_line)
{
	static const char *const args[] = {
		"--cpus", "3", "--memory", "1G,prefault", "--kernel", "bz",
		"--cmdline", "console=ttyS0 root=/dev/vda1", "--disk",
		"path=root.img,readonly,direct,serial=disk-0,queues=2", "--net",
		"tap=tap0,mac=52:54:00:12:34:56,queues=2", "--name", "kept", "--serial",
		"file=console.log", "--shutdown-timeout", "7", "--no-reboot", "--hide-kvm",
		"--hv-vendor-id", "vendor", NULL,
	};
	char *first = printed(args), *second;

	write_file("vm.json", first);
	second = printed((const char *const[]){ "--config", "vm.json", NULL });
	cr_assert_str_eq(second, first, "the file boots what the command line did");
	cr_assert(strstr(first, "\"boot_vcpus\": 3"));
	cr_assert(strstr(first, "\"num_queues\": 4"), "two pairs are four queues to Cloud Hypervisor");
	cr_assert(strstr(first, dir), "paths are absolute: %s", first);
	free(first);
	free(second);
}

Test(config_json, the_command_line_layers_over_the_file)
{
	struct vm_config cfg;

	write_file("vm.json", "{\"payload\": {\"kernel\": \"bz\", \"cmdline\": \"quiet\"},"
		   " \"cpus\": {\"boot_vcpus\": 2, \"max_vcpus\": 2},"
		   " \"disks\": [{\"path\": \"root.img\"}]}");
	cr_assert_eq(run_args(&cfg, (const char *const[]){ "--cpus", "4", "--config", "vm.json",
							    "--disk", "path=root.img,readonly",
							    NULL }), 0);
	cr_assert_eq(cfg.cpus, 4, "--cpus after the file wins, wherever --config stands");
	cr_assert_str_eq(cfg.cmdline, "quiet");
	cr_assert_eq(cfg.nr_disks, 2, "a repeatable option adds to the file's");
	cr_assert_not(cfg.disk[0].readonly);
	cr_assert(cfg.disk[1].readonly);
}

Test(config_json, a_field_of_the_wrong_type_is_named)
{
	static const struct {
		const char *json, *why;
	} cases[] = {
		{ "{\"payload\": {\"kernel\": 7}}", "payload.kernel: expected a string, got an integer" },
		{ "{\"payload\": {}, \"cpus\": {\"boot_vcpus\": \"2\"}}",
		  "cpus.boot_vcpus: expected an integer, got a string" },
		{ "{\"payload\": {}, \"disks\": [{\"path\": \"a\", \"readonly\": 1}]}",
		  "disks[0].readonly: expected true or false, got an integer" },
		{ "{\"payload\": {}, \"net\": [{\"tap\": \"t\"}, 3]}",
		  "net[1]: expected an object, got an integer" },
		{ "{\"payload\": {}, \"memory\": {\"size\": 1.5}}",
		  "memory.size: expected an integer, got a number with a fraction" },
		{ "{\"payload\": {}, \"disks\": {}}", "disks: expected an array, got an object" },
		{ "[]", "expected a VmConfig object, got an array" },
		{ "{\"cpus\": {\"boot_vcpus\": 1}}", "payload: is required" },
		{ "{\"payload\": {}, \"vmm_hotplug_reserve\": {\"pref64\": \"64G\"}}",
		  "vmm_hotplug_reserve.pref64: expected an integer, got a string" },
		{ "{\"payload\": {}, \"vmm_hotplug_reserve\": [1]}",
		  "vmm_hotplug_reserve: expected an object, got an array" },
		{ "{\"payload\": {}, \"vmm_hotplug_reserve\": {\"mem\": 1000}}",
		  "vmm_hotplug_reserve.mem: 1000 is not a whole number of KiB" },
		{ "{\"payload\": {}, \"vmm_hotplug_reserve\": {\"pref32\": 1048576}}",
		  "vmm_hotplug_reserve.pref32: not supported" },
	};
	char why[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(decode(cases[i].json, why, sizeof(why)), -EINVAL, "%s", cases[i].json);
		cr_assert(strstr(why, cases[i].why), "%s: said \"%s\"", cases[i].json, why);
		cr_assert_null(strchr(why, '\n'), "one line");
	}
}

Test(config_json, what_we_do_not_have_is_refused_unless_it_asks_for_nothing)
{
	char why[256];

	cr_assert_eq(decode("{\"payload\": {}, \"rng\": {\"src\": \"/dev/urandom\"}}", why,
			    sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "rng: not supported"), "%s", why);
	cr_assert_eq(decode("{\"payload\": {}, \"memory\": {\"size\": 1048576, \"shared\": true}}",
			    why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "memory.shared: not supported"), "%s", why);
	cr_assert_eq(decode("{\"payload\": {}, \"cpus\": {\"boot_vcpus\": 1, \"max_vcpus\": 4}}",
			    why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "cpus.max_vcpus"), "%s", why);
	cr_assert_eq(decode("{\"payload\": {}, \"net\": [{\"tap\": \"t\", \"num_queues\": 3}]}",
			    why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "net[0].num_queues: 3 is odd"), "%s", why);
	cr_assert_eq(decode("{\"payload\": {}, \"console\": {\"mode\": \"Tty\"}}", why,
			    sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "console.mode"), "%s", why);
	/* Cloud Hypervisor's defaults, as its clients send them, ask for nothing. */
	cr_assert_eq(decode("{\"payload\": {\"kernel\": \"bz\"}, \"iommu\": false, \"numa\": null,"
			    " \"memory\": {\"size\": 1048576, \"thp\": true, \"shared\": false,"
			    " \"zones\": []}, \"console\": {\"mode\": \"Off\"},"
			    " \"net\": [{\"tap\": \"t\", \"offload_tso\": true, \"iommu\": false}]}",
			    why, sizeof(why)), 0, "%s", why);
}

Test(config_json, a_bad_value_is_named_by_its_field_too)
{
	struct vm_config cfg;

	write_file("vm.json", "{\"payload\": {\"kernel\": \"bz\"},"
		   " \"devices\": [{\"path\": \"/sys/bus/pci/devices/0000:01:00.0/\"}],"
		   " \"disks\": [{\"path\": \"root.img\", \"serial\": \"far-too-long-for-a-disk-id\"}]}");
	cr_assert_eq(run_args(&cfg, (const char *const[]){ "--config", "vm.json", NULL }), 2);
	fflush(stderr);
	cr_assert_stderr_eq_str("vmm: error: --config vm.json: disks[0]: --disk "
				"path=root.img,serial=far-too-long-for-a-disk-id: serial= takes 1 "
				"to 20 characters (see vmm run --help)\n");
}

/* A path longer than an option holds is refused, never cut to another file's name. */
Test(config_json, a_path_too_long_for_its_option_is_refused_not_cut)
{
	char text[3000], path[2048], why[256];

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(text, sizeof(text), "{\"payload\": {\"kernel\": \"bz\"}, \"disks\": [{\"path\": \"%s\"}]}",
		 path);
	cr_assert_eq(decode(text, why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "disks[0]: too long for --disk"), "%s", why);
}

Test(config_json, a_device_is_its_sysfs_directory_or_its_address)
{
	struct vm_config cfg;

	write_file("vm.json", "{\"payload\": {\"firmware\": \"bz\"},"
		   " \"devices\": [{\"path\": \"/sys/bus/pci/devices/0000:01:00.0/\"},"
		   " {\"path\": \"0000:02:00.1\", \"vmm_reset\": \"bus\", \"vmm_mmap\": false,"
		   " \"vmm_rom\": \"off\", \"vmm_error\": \"log\"}]}");
	cr_assert_eq(run_args(&cfg, (const char *const[]){ "--config", "vm.json", NULL }), 0);
	cr_assert_eq(cfg.nr_vfio, 2);
	cr_assert_eq(cfg.vfio[0].bus, 1);
	cr_assert_eq(cfg.vfio[1].fn, 1);
	cr_assert_eq(cfg.vfio[1].reset, VM_VFIO_RESET_BUS);
	cr_assert(cfg.vfio[1].no_mmap);
	cr_assert(cfg.vfio[1].rom_off);
	cr_assert(cfg.vfio[1].error_log);
	cr_assert(!cfg.vfio[0].error_log, "a device error stops the VM unless told");
}

Test(config_json, a_devices_error_action_round_trips_and_a_bad_one_is_named)
{
	static const char *const args[] = { "--firmware", "bz", "--vfio", "0000:01:00.0,error=log",
					     "--vfio", "0000:02:00.0", NULL };
	struct vm_config back;
	char why[512], *text = printed(args);

	cr_assert(strstr(text, "\"vmm_error\": \"log\""), "%s", text);
	cr_assert(strstr(text, "\"vmm_error\": \"stop\""), "%s", text);
	write_file("vm.json", text);
	free(text);
	cr_assert_eq(run_args(&back, (const char *const[]){ "--config", "vm.json", NULL }), 0);
	cr_assert(back.vfio[0].error_log);
	cr_assert(!back.vfio[1].error_log);
	cr_assert_eq(decode("{\"payload\": {\"firmware\": \"bz\"}, \"devices\": [{\"path\": "
			    "\"0000:01:00.0\", \"vmm_error\": 3}]}", why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "vmm_error"), "%s", why);
}

Test(config_json, hotplug_reserve_has_defaults_and_later_keys_win)
{
	struct vm_config cfg;

	cr_assert_eq(run_args(&cfg, (const char *const[]){ "--firmware", "bz", NULL }), 0);
	cr_assert_eq(cfg.hotplug_reserve.io, 0);
	cr_assert_eq(cfg.hotplug_reserve.mem, 16 << 20);
	cr_assert_eq(cfg.hotplug_reserve.pref64, 256 << 20);
	cr_assert_eq(run_args(&cfg, (const char *const[]){ "--firmware", "bz", "--hotplug-reserve",
							    "io=4K,pref64=64G,mem=32M",
							    "--hotplug-reserve", "mem=0", NULL }), 0);
	cr_assert_eq(cfg.hotplug_reserve.io, 4096);
	cr_assert_eq(cfg.hotplug_reserve.mem, 0, "a later --hotplug-reserve overrides its key");
	cr_assert_eq(cfg.hotplug_reserve.pref64, 64ULL << 30, "and keeps the others");
	cr_assert_eq(run_args(&cfg, (const char *const[]){ "--firmware", "bz", "--hotplug-reserve",
							    "pref64=64T,pref64=1M", NULL }), 0);
	cr_assert_eq(cfg.hotplug_reserve.pref64, 1 << 20, "so does a later key in one option");
	cr_assert_eq(cfg.hotplug_reserve.mem, 16 << 20);
}

Test(config_json, hotplug_reserve_round_trips_in_bytes)
{
	static const char *const args[] = { "--firmware", "bz", "--hotplug-reserve",
					    "pref64=64G,io=8K", NULL };
	char *first = printed(args), *second;
	struct vm_config cfg;

	cr_assert(strstr(first, "\"vmm_hotplug_reserve\": {\n    \"io\": 8192,\n    \"mem\": "
			  "16777216,\n    \"pref64\": 68719476736\n  }"), "%s", first);
	write_file("vm.json", first);
	second = printed((const char *const[]){ "--config", "vm.json", NULL });
	cr_assert_str_eq(second, first);
	free(first);
	free(second);
	write_file("vm.json", "{\"payload\": {\"firmware\": \"bz\"},"
		   " \"vmm_hotplug_reserve\": {\"pref64\": 137438953472}}");
	cr_assert_eq(run_args(&cfg, (const char *const[]){ "--config", "vm.json", NULL }), 0);
	cr_assert_eq(cfg.hotplug_reserve.pref64, 128ULL << 30);
	cr_assert_eq(cfg.hotplug_reserve.mem, 16 << 20, "a key left out keeps its default");
	first = printed((const char *const[]){ "--kernel", "bz", NULL });
	cr_assert_null(strstr(first, "vmm_hotplug_reserve"), "no root ports without the firmware");
	free(first);
}

/* The command line's checks, through vm.create's path, each naming its key and value. */
Test(config_json, a_bad_hotplug_reserve_is_named_by_key_and_value)
{
	static const struct {
		const char *reserve, *why;
	} cases[] = {
		{ "\"io\": 6144", "io=6K: not 0, 4K or 8K" },
		{ "\"io\": 16384", "io=16K: not 0, 4K or 8K" },
		{ "\"mem\": 25165824", "mem=24576K: not 0 or a power of two from 1M to 128M" },
		{ "\"mem\": 268435456", "mem=262144K: not 0 or a power of two from 1M to 128M" },
		{ "\"pref64\": 524288", "pref64=512K: not 0 or a power of two from 1M to 64T" },
		{ "\"pref64\": 140737488355328", "pref64=137438953472K: not 0 or a power of two" },
	};
	char text[256], why[512];
	struct vm_config cfg;
	struct vm_config_args a = { 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "{\"payload\": {\"firmware\": \"bz\"}, "
			 "\"vmm_hotplug_reserve\": {%s}}", cases[i].reserve);
		cr_assert_eq(cli_parse_vm_config(text, strlen(text), &cfg, &a, why, sizeof(why)), 2,
			     "%s", text);
		cr_assert(strstr(why, cases[i].why), "%s: said \"%s\"", text, why);
		vm_config_args_free(&a);
	}
	snprintf(text, sizeof(text), "{\"payload\": {\"kernel\": \"bz\"}, "
		 "\"vmm_hotplug_reserve\": {\"pref64\": 1073741824}}");
	cr_assert_eq(cli_parse_vm_config(text, strlen(text), &cfg, &a, why, sizeof(why)), 2);
	cr_assert(strstr(why, "--hotplug-reserve: only with --firmware"), "%s", why);
	vm_config_args_free(&a);
}
