/*
 * fuzz.h: what every harness in tests/fuzz shares.  Each fuzz_<name>.c defines LLVMFuzzerTestOneInput
 * and is linked either with libFuzzer (make fuzz, clang -fsanitize=fuzzer) or with replay.c (make unit /
 * make test: every file of tests/fuzz/corpus/<name> once, under ASan and UBSan).
 *
 * Harnesses that need files write the input into a private scratch directory (on /dev/shm when it is
 * writable: journal_reopen fsyncs), created on first use and removed at exit; $HOME points into it, so
 * "~" and ~/.ssh never reach the real home.
 */
#ifndef FLEET_FUZZ_H
#define FLEET_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A harness found a broken promise of the library (not a sanitizer report): say which, then abort so
 * libFuzzer saves the input and the replay fails. */
#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: fuzz assertion failed: %s\n", __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

static char fuzz_dir_[PATH_MAX];

static inline int
fuzz_rm_entry_(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static inline void
fuzz_cleanup_(void)
{
	if (fuzz_dir_[0] != '\0')
		nftw(fuzz_dir_, fuzz_rm_entry_, 16, FTW_DEPTH | FTW_PHYS);
}

/* The scratch directory (created on the first call; $HOME becomes its "home" subdirectory). */
static inline const char *
fuzz_dir(void)
{
	const char *base;
	char home[PATH_MAX + 8];

	if (fuzz_dir_[0] != '\0')
		return fuzz_dir_;
	base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	snprintf(fuzz_dir_, sizeof(fuzz_dir_), "%s/fleet-fuzz-XXXXXX", base);
	if (mkdtemp(fuzz_dir_) == NULL) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(fuzz_cleanup_);
	snprintf(home, sizeof(home), "%s/home", fuzz_dir_);
	if (mkdir(home, 0700) != 0) {
		perror("fuzz: mkdir home");
		abort();
	}
	setenv("HOME", home, 1);
	return fuzz_dir_;
}

/* dir/rel (caller frees); parent directories are created. */
static inline char *
fuzz_path(const char *rel)
{
	const char *d = fuzz_dir();
	size_t n = strlen(d) + 1 + strlen(rel) + 1;
	char *p = malloc(n);

	if (p == NULL)
		abort();
	snprintf(p, n, "%s/%s", d, rel);
	for (char *s = p + strlen(d) + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			perror("fuzz: mkdir");
			abort();
		}
		*s = '/';
	}
	return p;
}

/* Replace path's content with data. */
static inline void
fuzz_write(const char *path, const void *data, size_t size)
{
	const char *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		perror("fuzz: open");
		abort();
	}
	while (size > 0) {
		ssize_t w = write(fd, p, size);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			perror("fuzz: write");
			abort();
		}
		p += w;
		size -= (size_t)w;
	}
	close(fd);
}

/* The input as a C string (cut at its first NUL, as a string API sees it); caller frees. */
static inline char *
fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * An upper bound of the host names the range patterns in data expand to ("a[1:40]b[1:3]" 120; "," and
 * newlines separate patterns, whose counts add).  A pattern holding a range hostrange_expand refuses (more
 * than 1,000,000 names, start > end, > 999999999) counts 1: the refusal comes before expanding anything.
 */
static inline double
fuzz_range_cost(const uint8_t *data, size_t size)
{
	double total = 0, product = 1;
	int huge = 0;

	/* the string ends at a NUL (and the inventory's reader stops at a line with one) */
	for (size_t i = 0; i <= size; i++) {
		if (i == size || data[i] == '\0') {
			total += huge ? 1 : product;
			break;
		}
		if (data[i] == ',' || data[i] == '\n') {
			total += huge ? 1 : product;
			product = 1;
			huge = 0;
			continue;
		}
		if (data[i] == '[') {
			size_t j = i + 1, k;
			double lo = 0, hi = 0;

			/* any number of digits: "[0000000001:0000999999]" is valid (and 999,999 names wide) */
			for (k = j; k < size && data[k] >= '0' && data[k] <= '9'; k++)
				lo = lo * 10 + (data[k] - '0');
			if (k == j || k >= size || data[k] != ':')
				continue;
			j = k + 1;
			for (k = j; k < size && data[k] >= '0' && data[k] <= '9'; k++)
				hi = hi * 10 + (data[k] - '0');
			if (k == j || k >= size || data[k] != ']')
				continue;
			/* refused ranges fail the whole pattern at once */
			if (hi - lo + 1 > 1000000 || lo > hi || hi > 999999999)
				huge = 1;
			else
				product *= hi - lo + 1;
		}
	}
	return total;
}

/*
 * Inputs whose ranges make more than max names, or names worth more than ~16 MB, are skipped: a valid
 * "hosts = a[1:999999]" costs seconds and hundreds of MB under ASan (strv_push reallocates for every
 * name, and ASan's realloc always copies), which only slows the fuzzer down without reaching new code.
 */
static inline int
fuzz_too_many_names(const uint8_t *data, size_t size, double max)
{
	double n = fuzz_range_cost(data, size);

	return n > max || n * (double)(size + 64) > 16e6;
}

#endif
