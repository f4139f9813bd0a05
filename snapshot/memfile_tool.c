/* Command-line memory file tools: --merge-mem OUT TOP and --mem-info FILE. */
#include <stdio.h>
#include <string.h>

#include "snapshot/memfile.h"

static void print_id(const char *label, const uint8_t *id)
{
	printf("%s", label);
	for (int i = 0; i < MEMFILE_ID_LEN; i++)
		printf("%02x", id[i]);
	printf("\n");
}

static int info_main(const char *path)
{
	struct memfile_info h;
	char err[512];

	if (memfile_probe(path, &h, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("kind: %s\nmemory: %llu bytes\nfile: %llu bytes\n",
	       h.kind == MEMFILE_FULL ? "full" : "diff", (unsigned long long)h.ram_size,
	       (unsigned long long)h.file_size);
	print_id("id: ", h.id);
	if (h.kind == MEMFILE_DIFF) {
		printf("page size: %u\nranges: %u\ndepth: %u\nparent: %s\n", h.page_size,
		       h.nr_ranges, h.depth, h.parent);
		print_id("parent id: ", h.parent_id);
	}
	if (memfile_check(path, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "chain: %s\n", err);
		return 1;
	}
	printf("chain: ok\n");
	return 0;
}

static int merge_main(const char *out, const char *top)
{
	char err[512];

	if (memfile_merge(top, out, NULL, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "merge: %s\n", err);
		return 1;
	}
	return 0;
}

int memfile_tool_main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[0], "--merge-mem"))
		return merge_main(argv[1], argv[2]);
	if (argc == 2 && !strcmp(argv[0], "--mem-info"))
		return info_main(argv[1]);
	fprintf(stderr, "usage: torpor-vmm --merge-mem OUT TOP | --mem-info FILE\n");
	return 2;
}
