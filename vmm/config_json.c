// SPDX-License-Identifier: MIT
/*
 * VmConfig JSON to `vmm run` options and back (config_json.h).
 *
 * The decoder checks only the JSON's shape (types, names, what a field may
 * not ask of us); whether a value is sane (a size, a queue count, a PCI
 * address) is the command line parser's job, done once for both.
 */
#include "config_json.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm.h"

/* What decoding one object needs: where errors go, and the path so far. */
struct dec {
	struct vm_config_args *out;
	char *why;
	size_t why_len;
	char path[96]; /* "disks[1]" */
};

static int fail(struct dec *d, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct dec *d, const char *field, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (field && *d->path)
		snprintf(d->why, d->why_len, "%s.%s: %s", d->path, field, msg);
	else
		snprintf(d->why, d->why_len, "%s: %s", field ? field : d->path, msg);
	return -EINVAL;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	default: return "null";
	}
}

static int push(struct dec *d, const char *s)
{
	struct vm_config_args *a = d->out;
	char *copy;

	if (a->argc == a->cap) {
		unsigned cap = a->cap ? 2 * a->cap : 16;
		char **v = realloc(a->argv, cap * sizeof(*v));
		const char **f;

		if (!v)
			return -ENOMEM;
		a->argv = v;
		f = realloc(a->field, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		a->field = f;
		a->cap = cap;
	}
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	a->argv[a->argc] = copy;
	/* The path is copied with the option it explains, for the parser's errors. */
	a->field[a->argc] = strdup(*d->path ? d->path : "(top level)");
	if (!a->field[a->argc]) {
		free(copy);
		return -ENOMEM;
	}
	a->argc++;
	return 0;
}

static int push2(struct dec *d, const char *opt, const char *val)
{
	int ret = push(d, opt);

	return ret ? ret : push(d, val);
}

void vm_config_args_free(struct vm_config_args *a)
{
	for (unsigned i = 0; i < a->argc; i++) {
		free(a->argv[i]);
		free((void *)a->field[i]);
	}
	free(a->argv);
	free(a->field);
	memset(a, 0, sizeof(*a));
}

/* ---- fields ---- */

/* A value that asks for nothing: what an absent field means. */
static bool asks_nothing(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL:
	case JSON_FALSE: return true;
	case JSON_INTEGER: return json_integer_value(v) == 0;
	case JSON_STRING: return json_string_length(v) == 0;
	case JSON_ARRAY: return json_array_size(v) == 0;
	case JSON_OBJECT: return json_object_size(v) == 0;
	default: return false;
	}
}

/*
 * Fields this vmm reads (known), and Cloud Hypervisor's fields that default
 * to true and so ask for nothing when true (true_ok). Every other field is
 * refused unless it asks for nothing.
 */
static int check_fields(struct dec *d, const json_t *obj, const char *const *known,
			const char *const *true_ok)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		bool ok = asks_nothing(v);

		for (const char *const *k = known; *k && !ok; k++)
			ok = !strcmp(*k, key);
		for (const char *const *k = true_ok; k && *k && !ok; k++)
			ok = !strcmp(*k, key) && json_is_true(v);
		if (!ok)
			return fail(d, key, "not supported by this vmm (docs/api.md lists what is)");
	}
	return 0;
}

/* *out = the field's string, or NULL when absent or null. */
static int get_str(struct dec *d, const json_t *obj, const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return fail(d, key, "expected a string, got %s", type_name(v));
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(d, key, "has a NUL character in it");
	*out = json_string_value(v);
	return 0;
}

/* A string that becomes part of a comma-separated option: no commas. */
static int get_item(struct dec *d, const json_t *obj, const char *key, const char **out)
{
	int ret = get_str(d, obj, key, out);

	if (!ret && *out && strchr(*out, ','))
		return fail(d, key, "\"%s\" has a comma, which this vmm's options cannot carry",
			    *out);
	if (!ret && *out && !**out)
		return fail(d, key, "is empty");
	return ret;
}

static int get_bool(struct dec *d, const json_t *obj, const char *key, bool *out)
{
	json_t *v = json_object_get(obj, key);

	*out = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return fail(d, key, "expected true or false, got %s", type_name(v));
	*out = json_is_true(v);
	return 0;
}

/* *out = the field's value in 1..max, or 0 when absent or null. */
static int get_uint(struct dec *d, const json_t *obj, const char *key, uint64_t max,
		    uint64_t *out)
{
	json_t *v = json_object_get(obj, key);

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return fail(d, key, "expected an integer, got %s", type_name(v));
	if (json_integer_value(v) < 1 || (uint64_t)json_integer_value(v) > max)
		return fail(d, key, "%" JSON_INTEGER_FORMAT " is out of range (1 to %" PRIu64 ")",
			    json_integer_value(v), max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* The object at key (NULL when absent or null), or an error for another type. */
static int get_obj(struct dec *d, const json_t *obj, const char *key, json_t **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return fail(d, key, "expected an object, got %s", type_name(v));
	*out = v;
	return 0;
}

static int get_array(struct dec *d, const json_t *obj, const char *key, json_t **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return fail(d, key, "expected an array, got %s", type_name(v));
	*out = v;
	return 0;
}

/* Appends ",text" (or text first) to an option being built. */
static void add(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void add(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used >= len - 1)
		return;
	if (used)
		buf[used++] = ',', buf[used] = '\0';
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/*
 * An option built with add(): refused when it filled its buffer, since
 * add() cut it there and a cut path names another file.
 */
static int push_built(struct dec *d, const char *opt, const char *built, size_t size)
{
	if (strlen(built) >= size - 1)
		return fail(d, NULL, "too long for %s (%zu bytes at most)", opt, size - 2);
	return push2(d, opt, built);
}

/* ---- the sections ---- */

static int dec_cpus(struct dec *d, const json_t *o)
{
	static const char *const known[] = { "boot_vcpus", "max_vcpus", NULL };
	static const char *const true_ok[] = { "nested", NULL };
	uint64_t boot, max;
	char num[24];
	int ret;

	snprintf(d->path, sizeof(d->path), "cpus");
	ret = check_fields(d, o, known, true_ok);
	if (!ret)
		ret = get_uint(d, o, "boot_vcpus", 255, &boot);
	if (!ret)
		ret = get_uint(d, o, "max_vcpus", 255, &max);
	if (ret)
		return ret;
	if (!boot)
		return fail(d, "boot_vcpus", "is required (1 to 255)");
	if (max && max != boot)
		return fail(d, "max_vcpus", "%" PRIu64 " differs from boot_vcpus %" PRIu64
			    ": this vmm has no vCPU hot-plug", max, boot);
	snprintf(num, sizeof(num), "%" PRIu64, boot);
	return push2(d, "--cpus", num);
}

static int dec_memory(struct dec *d, const json_t *o)
{
	static const char *const known[] = { "size", "hugepages", "hugepage_size", "prefault",
					     NULL };
	static const char *const true_ok[] = { "thp", NULL };
	char opt[96] = "";
	uint64_t size, hp_size;
	bool huge, prefault;
	int ret;

	snprintf(d->path, sizeof(d->path), "memory");
	ret = check_fields(d, o, known, true_ok);
	if (!ret)
		ret = get_uint(d, o, "size", INT64_MAX, &size);
	if (!ret)
		ret = get_bool(d, o, "hugepages", &huge);
	if (!ret)
		ret = get_uint(d, o, "hugepage_size", INT64_MAX, &hp_size);
	if (!ret)
		ret = get_bool(d, o, "prefault", &prefault);
	if (ret)
		return ret;
	if (!size)
		return fail(d, "size", "is required (bytes)");
	if (size % 1024)
		return fail(d, "size", "%" PRIu64 " bytes is not a whole number of KiB", size);
	add(opt, sizeof(opt), "%" PRIu64 "K", size / 1024);
	if (hp_size && !huge)
		return fail(d, "hugepage_size", "needs \"hugepages\": true");
	if (huge) {
		if (hp_size && hp_size != 2ULL << 20 && hp_size != 1ULL << 30)
			return fail(d, "hugepage_size", "%" PRIu64 " is neither 2 MiB (2097152) "
				    "nor 1 GiB (1073741824)", hp_size);
		add(opt, sizeof(opt), "hugepages=%s", hp_size == 1ULL << 30 ? "1G" : "2M");
	}
	if (prefault)
		add(opt, sizeof(opt), "prefault");
	return push2(d, "--memory", opt);
}

static int dec_payload(struct dec *d, const json_t *o)
{
	static const char *const known[] = { "firmware", "kernel", "cmdline", "initramfs", NULL };
	static const char *const opts[] = { "--firmware", "--kernel", "--cmdline", "--initrd" };
	int ret;

	snprintf(d->path, sizeof(d->path), "payload");
	ret = check_fields(d, o, known, NULL);
	for (unsigned i = 0; i < 4 && !ret; i++) {
		const char *s;

		ret = get_str(d, o, known[i], &s);
		if (!ret && s && !*s && i != 2)
			ret = fail(d, known[i], "is empty");
		if (!ret && s)
			ret = push2(d, opts[i], s);
	}
	return ret;
}

static int dec_disk(struct dec *d, const json_t *o)
{
	static const char *const known[] = { "path", "readonly", "direct", "num_queues",
					     "serial", "id", NULL };
	static const char *const true_ok[] = { "sparse", NULL };
	const char *path, *serial, *id;
	bool ro, direct;
	uint64_t queues;
	char opt[VM_SPEC_MAX] = "";
	int ret;

	ret = check_fields(d, o, known, true_ok);
	if (!ret)
		ret = get_item(d, o, "path", &path);
	if (!ret)
		ret = get_bool(d, o, "readonly", &ro);
	if (!ret)
		ret = get_bool(d, o, "direct", &direct);
	if (!ret)
		ret = get_uint(d, o, "num_queues", 16, &queues);
	if (!ret)
		ret = get_item(d, o, "serial", &serial);
	if (!ret)
		ret = get_str(d, o, "id", &id);
	if (ret)
		return ret;
	if (!path)
		return fail(d, "path", "is required (a raw disk image)");
	add(opt, sizeof(opt), "path=%s", path);
	if (ro)
		add(opt, sizeof(opt), "readonly");
	if (direct)
		add(opt, sizeof(opt), "direct");
	if (serial)
		add(opt, sizeof(opt), "serial=%s", serial);
	if (queues)
		add(opt, sizeof(opt), "queues=%" PRIu64, queues);
	return push_built(d, "--disk", opt, sizeof(opt));
}

static int dec_net(struct dec *d, const json_t *o)
{
	static const char *const known[] = { "tap", "mac", "num_queues", "id", NULL };
	static const char *const true_ok[] = { "offload_tso", "offload_ufo", "offload_csum", NULL };
	const char *tap, *mac, *id;
	uint64_t queues;
	char opt[VM_SPEC_MAX] = "";
	int ret;

	ret = check_fields(d, o, known, true_ok);
	if (!ret)
		ret = get_item(d, o, "tap", &tap);
	if (!ret)
		ret = get_item(d, o, "mac", &mac);
	if (!ret)
		ret = get_uint(d, o, "num_queues", 16, &queues);
	if (!ret)
		ret = get_str(d, o, "id", &id);
	if (ret)
		return ret;
	if (!tap)
		return fail(d, "tap", "is required (this vmm takes a TAP by name)");
	add(opt, sizeof(opt), "tap=%s", tap);
	if (mac)
		add(opt, sizeof(opt), "mac=%s", mac);
	/* Cloud Hypervisor counts both directions: two queues a pair. */
	if (queues % 2)
		return fail(d, "num_queues", "%" PRIu64 " is odd: a NIC's queues come in rx/tx "
			    "pairs", queues);
	if (queues)
		add(opt, sizeof(opt), "queues=%" PRIu64, queues / 2);
	return push_built(d, "--net", opt, sizeof(opt));
}

#define SYSFS_PCI "/sys/bus/pci/devices/"

static int dec_device(struct dec *d, const json_t *o)
{
	static const char *const known[] = { "path", "id", "vmm_rom", "vmm_reset", "vmm_mmap",
					     "vmm_error", NULL };
	const char *path, *rom, *reset, *id, *bdf, *error;
	json_t *mmap = json_object_get(o, "vmm_mmap");
	char opt[VM_SPEC_MAX] = "";
	int ret;

	ret = check_fields(d, o, known, NULL);
	if (!ret)
		ret = get_item(d, o, "path", &path);
	if (!ret)
		ret = get_item(d, o, "vmm_rom", &rom);
	if (!ret)
		ret = get_item(d, o, "vmm_reset", &reset);
	if (!ret)
		ret = get_str(d, o, "id", &id);
	if (!ret)
		ret = get_item(d, o, "vmm_error", &error);
	if (!ret && mmap && !json_is_boolean(mmap))
		ret = fail(d, "vmm_mmap", "expected true or false, got %s", type_name(mmap));
	if (ret)
		return ret;
	if (!path)
		return fail(d, "path", "is required (%s0000:01:00.0)", SYSFS_PCI);
	/* The device's sysfs directory, as Cloud Hypervisor takes it, or its address alone. */
	bdf = path;
	if (!strncmp(path, SYSFS_PCI, strlen(SYSFS_PCI)))
		bdf = path + strlen(SYSFS_PCI);
	if (strchr(bdf, '/') && strcspn(bdf, "/") + 1 != strlen(bdf))
		return fail(d, "path", "\"%s\" is not %sBDF", path, SYSFS_PCI);
	add(opt, sizeof(opt), "%.*s", (int)strcspn(bdf, "/"), bdf);
	if (rom)
		add(opt, sizeof(opt), "rom=%s", rom);
	if (reset)
		add(opt, sizeof(opt), "reset=%s", reset);
	if (json_is_false(mmap))
		add(opt, sizeof(opt), "mmap=off");
	if (error)
		add(opt, sizeof(opt), "error=%s", error);
	return push_built(d, "--vfio", opt, sizeof(opt));
}

/* Each element of an array section, an object, through fn. */
static int dec_list(struct dec *d, const json_t *top, const char *key,
		    int (*fn)(struct dec *, const json_t *))
{
	json_t *arr, *v;
	size_t i;
	int ret;

	snprintf(d->path, sizeof(d->path), "%s", "");
	ret = get_array(d, top, key, &arr);
	if (ret || !arr)
		return ret;
	json_array_foreach(arr, i, v) {
		snprintf(d->path, sizeof(d->path), "%s[%zu]", key, i);
		if (!json_is_object(v))
			return fail(d, NULL, "expected an object, got %s", type_name(v));
		ret = fn(d, v);
		if (ret)
			return ret;
	}
	return 0;
}

static int dec_serial(struct dec *d, const json_t *o)
{
	static const char *const known[] = { "mode", "file", NULL };
	const char *mode, *file;
	char opt[VM_SPEC_MAX];
	int ret;

	snprintf(d->path, sizeof(d->path), "serial");
	ret = check_fields(d, o, known, NULL);
	if (!ret)
		ret = get_str(d, o, "mode", &mode);
	if (!ret)
		ret = get_str(d, o, "file", &file);
	if (ret)
		return ret;
	if (!mode)
		return fail(d, "mode", "is required: Tty, File, Off or Null");
	if (!strcmp(mode, "File")) {
		if (!file || !*file)
			return fail(d, "file", "is required with \"mode\": \"File\"");
		snprintf(opt, sizeof(opt), "file=%s", file);
		return push_built(d, "--serial", opt, sizeof(opt));
	}
	if (file)
		return fail(d, "file", "only with \"mode\": \"File\"");
	if (!strcmp(mode, "Tty"))
		return push2(d, "--serial", "stdio");
	if (!strcmp(mode, "Off") || !strcmp(mode, "Null"))
		return push2(d, "--serial", "none");
	return fail(d, "mode", "\"%s\" is not supported: Tty (stdio), File, Off or Null", mode);
}

/* No virtio-console: only a console that is off. */
static int dec_console(struct dec *d, const json_t *o)
{
	static const char *const known[] = { "mode", NULL };
	const char *mode;
	int ret;

	snprintf(d->path, sizeof(d->path), "console");
	ret = check_fields(d, o, known, NULL);
	if (!ret)
		ret = get_str(d, o, "mode", &mode);
	if (!ret && mode && strcmp(mode, "Off") && strcmp(mode, "Null"))
		ret = fail(d, "mode", "\"%s\": this vmm has no virtio-console, only \"Off\" "
			   "(the serial port is the console)", mode);
	return ret;
}

/* Ours: what the command line has and a VmConfig does not. */
static int dec_options(struct dec *d, const json_t *o)
{
	static const char *const known[] = { "name", "vars", "pci_mmio64", "no_reboot",
					     "shutdown_timeout", "hide_kvm", "hv_vendor_id",
					     "vfio_iommu", NULL };
	static const char *const strs[][2] = {
		{ "name", "--name" }, { "vars", "--vars" }, { "hv_vendor_id", "--hv-vendor-id" },
		{ "vfio_iommu", "--vfio-iommu" },
	};
	json_t *t = json_object_get(o, "shutdown_timeout");
	uint64_t mmio64;
	bool flag;
	char num[24];
	int ret;

	snprintf(d->path, sizeof(d->path), "vmm_options");
	ret = check_fields(d, o, known, NULL);
	for (unsigned i = 0; i < sizeof(strs) / sizeof(strs[0]) && !ret; i++) {
		const char *s;

		ret = get_str(d, o, strs[i][0], &s);
		if (!ret && s)
			ret = push2(d, strs[i][1], s);
	}
	if (!ret)
		ret = get_uint(d, o, "pci_mmio64", INT64_MAX, &mmio64);
	if (!ret && mmio64) {
		snprintf(num, sizeof(num), "%" PRIu64 "K", mmio64 / 1024);
		ret = mmio64 % 1024 ? fail(d, "pci_mmio64", "is not a whole number of KiB")
				    : push2(d, "--pci-mmio64", num);
	}
	if (!ret && t && !json_is_null(t)) {
		if (!json_is_integer(t))
			return fail(d, "shutdown_timeout", "expected an integer, got %s",
				    type_name(t));
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(t));
		ret = push2(d, "--shutdown-timeout", num);
	}
	if (!ret)
		ret = get_bool(d, o, "no_reboot", &flag);
	if (!ret && flag)
		ret = push(d, "--no-reboot");
	if (!ret)
		ret = get_bool(d, o, "hide_kvm", &flag);
	if (!ret && flag)
		ret = push(d, "--hide-kvm");
	return ret;
}

/* Ours: --hotplug-reserve, in bytes; a key left out keeps the command line's default. */
static int dec_hotplug_reserve(struct dec *d, const json_t *o)
{
	static const char *const known[] = { "io", "mem", "pref64", NULL };
	char opt[96] = "";
	int ret;

	snprintf(d->path, sizeof(d->path), "vmm_hotplug_reserve");
	ret = check_fields(d, o, known, NULL);
	for (unsigned i = 0; known[i] && !ret; i++) {
		json_t *v = json_object_get(o, known[i]);

		if (!v || json_is_null(v))
			continue;
		if (!json_is_integer(v))
			return fail(d, known[i], "expected an integer, got %s", type_name(v));
		if (json_integer_value(v) < 0 || json_integer_value(v) % 1024)
			return fail(d, known[i], "%" JSON_INTEGER_FORMAT " is not a whole number "
				    "of KiB (bytes)", json_integer_value(v));
		add(opt, sizeof(opt), "%s=%" JSON_INTEGER_FORMAT "K", known[i],
		    json_integer_value(v) / 1024);
	}
	return ret || !opt[0] ? ret : push2(d, "--hotplug-reserve", opt);
}

int vm_config_json_decode(const char *text, size_t len, struct vm_config_args *out,
			  char *why, size_t why_len)
{
	static const char *const known[] = { "cpus", "memory", "payload", "disks", "net",
					     "devices", "serial", "console", "vmm_options",
					     "vmm_hotplug_reserve", NULL };
	static const struct {
		const char *key;
		int (*fn)(struct dec *, const json_t *);
	} objs[] = {
		{ "cpus", dec_cpus }, { "memory", dec_memory }, { "payload", dec_payload },
		{ "serial", dec_serial }, { "console", dec_console },
		{ "vmm_options", dec_options }, { "vmm_hotplug_reserve", dec_hotplug_reserve },
	};
	struct dec d = { .out = out, .why = why, .why_len = why_len };
	json_error_t err;
	json_t *root, *o;
	int ret;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		snprintf(why, why_len, "not valid JSON: %s (line %d, column %d)", err.text,
			 err.line, err.column);
		vm_config_one_line(why);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(why, why_len, "expected a VmConfig object, got %s", type_name(root));
		json_decref(root);
		return -EINVAL;
	}
	ret = check_fields(&d, root, known, NULL);
	if (!ret && !json_object_get(root, "payload"))
		ret = fail(&d, "payload", "is required (firmware, kernel, cmdline, initramfs)");
	for (unsigned i = 0; i < sizeof(objs) / sizeof(objs[0]) && !ret; i++) {
		d.path[0] = '\0';
		ret = get_obj(&d, root, objs[i].key, &o);
		if (!ret && o)
			ret = objs[i].fn(&d, o);
	}
	if (!ret)
		ret = dec_list(&d, root, "disks", dec_disk);
	if (!ret)
		ret = dec_list(&d, root, "net", dec_net);
	if (!ret)
		ret = dec_list(&d, root, "devices", dec_device);
	if (ret == -ENOMEM)
		snprintf(why, why_len, "out of memory");
	json_decref(root);
	if (ret)
		vm_config_one_line(why);
	return ret;
}

void vm_config_one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* ---- encoding ---- */

/*
 * path made absolute by joining it to the working directory; symbolic
 * links stay as given (/boot/vmlinuz keeps following kernel updates).
 */
static json_t *path_json(const char *path)
{
	char abs[PATH_MAX], cwd[PATH_MAX];

	if (!path)
		return json_string("");
	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) &&
	    (size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, path) < sizeof(abs))
		return json_string(abs);
	return json_string(path);
}

static const char *const reset_names[] = {
	[VM_VFIO_RESET_AUTO] = "auto", [VM_VFIO_RESET_FLR] = "flr", [VM_VFIO_RESET_PM] = "pm",
	[VM_VFIO_RESET_BUS] = "bus", [VM_VFIO_RESET_NONE] = "none",
};

static const char *const iommu_names[] = {
	[VM_VFIO_IOMMU_AUTO] = "auto", [VM_VFIO_IOMMU_TYPE1] = "type1",
	[VM_VFIO_IOMMU_IOMMUFD] = "iommufd",
};

static json_t *enc_payload(const struct vm_config *cfg)
{
	json_t *p = json_object();

	if (cfg->firmware)
		json_object_set_new(p, "firmware", path_json(cfg->firmware));
	if (cfg->kernel)
		json_object_set_new(p, "kernel", path_json(cfg->kernel));
	json_object_set_new(p, "cmdline", json_string(cfg->cmdline ? cfg->cmdline : ""));
	if (cfg->initrd)
		json_object_set_new(p, "initramfs", path_json(cfg->initrd));
	return p;
}

static json_t *enc_memory(const struct vm_config *cfg)
{
	json_t *m = json_object();

	json_object_set_new(m, "size", json_integer((json_int_t)cfg->mem.size));
	json_object_set_new(m, "hugepages", json_boolean(cfg->mem.hugepage_size != 0));
	if (cfg->mem.hugepage_size)
		json_object_set_new(m, "hugepage_size",
				    json_integer((json_int_t)cfg->mem.hugepage_size));
	json_object_set_new(m, "prefault", json_boolean(cfg->mem.prefault));
	return m;
}

static json_t *enc_disks(const struct vm_config *cfg)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		const struct vm_disk *dk = &cfg->disk[i];
		json_t *o = json_object();

		json_object_set_new(o, "path", path_json(dk->path));
		json_object_set_new(o, "readonly", json_boolean(dk->readonly));
		json_object_set_new(o, "direct", json_boolean(dk->direct));
		json_object_set_new(o, "num_queues", json_integer(dk->queues ? dk->queues : 1));
		if (dk->serial)
			json_object_set_new(o, "serial", json_string(dk->serial));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *enc_net(const struct vm_config *cfg)
{
	json_t *a = json_array();
	char mac[18];

	for (unsigned i = 0; i < cfg->nr_nics; i++) {
		const struct vm_nic *n = &cfg->nic[i];
		json_t *o = json_object();

		json_object_set_new(o, "tap", json_string(n->tap));
		if (n->has_mac) {
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0],
				 n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
			json_object_set_new(o, "mac", json_string(mac));
		}
		json_object_set_new(o, "num_queues", json_integer(2 * (n->queues ? n->queues : 1)));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *enc_devices(const struct vm_config *cfg)
{
	json_t *a = json_array();
	char path[64], id[16];

	for (unsigned i = 0; i < cfg->nr_vfio; i++) {
		const struct vm_vfio_fn_cfg *f = &cfg->vfio[i];
		json_t *o = json_object();

		snprintf(path, sizeof(path), SYSFS_PCI "%04x:%02x:%02x.%x", f->domain, f->bus,
			 f->dev, f->fn);
		snprintf(id, sizeof(id), "vfio%u", i);
		json_object_set_new(o, "path", json_string(path));
		json_object_set_new(o, "id", json_string(id));
		if (f->rom_off)
			json_object_set_new(o, "vmm_rom", json_string("off"));
		else if (f->rom)
			json_object_set_new(o, "vmm_rom", path_json(f->rom));
		json_object_set_new(o, "vmm_reset", json_string(reset_names[f->reset]));
		json_object_set_new(o, "vmm_mmap", json_boolean(!f->no_mmap));
		json_object_set_new(o, "vmm_error", json_string(f->error_log ? "log" : "stop"));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *enc_serial(const struct vm_config *cfg)
{
	json_t *s = json_object();

	switch (cfg->serial) {
	case SERIAL_FILE:
		json_object_set_new(s, "mode", json_string("File"));
		json_object_set_new(s, "file", path_json(cfg->serial_path));
		break;
	case SERIAL_NONE:
		json_object_set_new(s, "mode", json_string("Off"));
		break;
	default:
		json_object_set_new(s, "mode", json_string("Tty"));
		break;
	}
	return s;
}

static json_t *enc_options(const struct vm_config *cfg)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(cfg->name ? cfg->name : "guest"));
	if (cfg->vars)
		json_object_set_new(o, "vars", path_json(cfg->vars));
	if (cfg->pci_mmio64_size)
		json_object_set_new(o, "pci_mmio64", json_integer((json_int_t)cfg->pci_mmio64_size));
	json_object_set_new(o, "no_reboot", json_boolean(cfg->no_reboot));
	json_object_set_new(o, "shutdown_timeout", json_integer(cfg->shutdown_timeout_s));
	json_object_set_new(o, "hide_kvm", json_boolean(cfg->hide_kvm));
	if (cfg->hv_vendor)
		json_object_set_new(o, "hv_vendor_id", json_string(cfg->hv_vendor));
	json_object_set_new(o, "vfio_iommu", json_string(iommu_names[cfg->vfio_iommu]));
	return o;
}

static json_t *enc_hotplug_reserve(const struct vm_config *cfg)
{
	const struct vm_hotplug_reserve *r = &cfg->hotplug_reserve;

	return json_pack("{s:I,s:I,s:I}", "io", (json_int_t)r->io, "mem", (json_int_t)r->mem,
			 "pref64", (json_int_t)r->pref64);
}

json_t *vm_config_json(const struct vm_config *cfg)
{
	json_t *root = json_object(), *cpus = json_object();

	if (!root || !cpus) {
		json_decref(root);
		json_decref(cpus);
		return NULL;
	}
	json_object_set_new(cpus, "boot_vcpus", json_integer(cfg->cpus));
	json_object_set_new(cpus, "max_vcpus", json_integer(cfg->cpus));
	json_object_set_new(root, "cpus", cpus);
	json_object_set_new(root, "memory", enc_memory(cfg));
	json_object_set_new(root, "payload", enc_payload(cfg));
	if (cfg->nr_disks)
		json_object_set_new(root, "disks", enc_disks(cfg));
	if (cfg->nr_nics)
		json_object_set_new(root, "net", enc_net(cfg));
	if (cfg->nr_vfio)
		json_object_set_new(root, "devices", enc_devices(cfg));
	json_object_set_new(root, "serial", enc_serial(cfg));
	json_object_set_new(root, "console", json_pack("{s:s}", "mode", "Off"));
	json_object_set_new(root, "vmm_options", enc_options(cfg));
	/* Only the firmware's Q35 machine has root ports to reserve behind. */
	if (cfg->firmware)
		json_object_set_new(root, "vmm_hotplug_reserve", enc_hotplug_reserve(cfg));
	return root;
}

char *vm_config_json_encode(const struct vm_config *cfg)
{
	json_t *root = vm_config_json(cfg);
	char *text, *out;
	size_t n;

	if (!root)
		return NULL;
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!text)
		return NULL;
	n = strlen(text);
	out = realloc(text, n + 2);
	if (!out) {
		free(text);
		return NULL;
	}
	memcpy(out + n, "\n", 2);
	return out;
}
