/*
 * replay.c: feed every file of the given directories to a fuzz target, so
 * that the corpus and past findings run in `make check` without libFuzzer.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
replay_file(const char *path)
{
	FILE	*f;
	uint8_t	*buf = NULL;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL)
		return (-1);
	if (fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1 ||
	    (buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return (-1);
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return (0);
}

int
main(int argc, char **argv)
{
	struct dirent	*e;
	DIR		*d;
	char		 path[4096];
	int		 i, n = 0;

	for (i = 1; i < argc; i++) {
		if ((d = opendir(argv[i])) == NULL) {
			fprintf(stderr, "replay: %s: cannot open\n", argv[i]);
			return (1);
		}
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
			if (replay_file(path) == -1) {
				fprintf(stderr, "replay: %s: cannot read\n",
				    path);
				closedir(d);
				return (1);
			}
			n++;
		}
		closedir(d);
	}
	printf("replayed %d inputs\n", n);
	return (0);
}
