/*
 * replay: run a harness's LLVMFuzzerTestOneInput on every file of the corpus directories (or files)
 * given on the command line, without libFuzzer, so that `make test` checks the corpus under ASan and
 * UBSan.  Prints "PASS: replay_<name> (N inputs)" (name from argv[0]), or a FAIL line when a corpus
 * is missing or empty; a sanitizer report or a failed harness assertion aborts the process instead.
 *
 *   build/test/fuzz/replay_manifest tests/fuzz/corpus/manifest
 */
#include "fuzz.h"

#include <dirent.h>

static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data = NULL;
	size_t n = 0, cap = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (n == cap) {
			unsigned char *d = realloc(data, cap = cap ? cap * 2 : 4096);

			if (d == NULL)
				abort();
			data = d;
		}
		size_t r = fread(data + n, 1, cap - n, f);

		if (r == 0)
			break;
		n += r;
	}
	if (ferror(f)) {
		free(data);
		data = NULL;
	}
	fclose(f);
	*len = n;
	return data;
}

static int
run_file(const char *path)
{
	size_t len = 0;
	unsigned char *data = slurp(path, &len);

	if (data == NULL) {
		printf("# cannot read %s\n", path);
		return -1;
	}
	fprintf(stderr, "replay: %s\n", path);   /* the last one named before a sanitizer report is the culprit */
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int
main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 : argv[0];
	size_t count = 0;
	int bad = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		printf("FAIL: %s (no corpus given)\n", name);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		struct dirent **ents = NULL;
		struct stat st;
		int n;

		if (stat(argv[i], &st) != 0) {
			printf("# %s: %s\n", argv[i], strerror(errno));
			bad = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= run_file(argv[i]) != 0;
			count++;
			continue;
		}
		n = scandir(argv[i], &ents, NULL, by_name);
		if (n < 0) {
			printf("# %s: %s\n", argv[i], strerror(errno));
			bad = 1;
			continue;
		}
		for (int k = 0; k < n; k++) {
			char *path;
			size_t plen = strlen(argv[i]) + strlen(ents[k]->d_name) + 2;

			if (ents[k]->d_name[0] != '.' && (path = malloc(plen)) != NULL) {
				snprintf(path, plen, "%s/%s", argv[i], ents[k]->d_name);
				if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
					bad |= run_file(path) != 0;
					count++;
				}
				free(path);
			}
			free(ents[k]);
		}
		free(ents);
	}
	if (bad || count == 0) {
		printf("FAIL: %s (%zu inputs%s)\n", name, count, bad ? ", some unreadable" : ", empty corpus");
		return 1;
	}
	printf("PASS: %s (%zu inputs)\n", name, count);
	return 0;
}
