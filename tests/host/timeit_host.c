/*
 * Run a command N times and time each run (static aarch64,
 * build/aarch64/torpor-test-timeit), for benchmarks in shells without a
 * sub-millisecond clock (busybox date has no %N).
 *
 * usage: torpor-test-timeit [-n N] -- CMD [ARG...]
 * Runs CMD N times (default 1) one after the other, stdio inherited, and
 * prints one line:
 *   TIMEIT n=N median_us=.. min_us=.. max_us=.. mean_us=.. total_us=..
 * Exit status 0 if every run exited 0; otherwise it stops at the first
 * failing run and prints "TIMEIT-FAIL run=I status=S" (1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long long *t, total = 0;
	int n = 1, i = 1;

	if (i + 1 < argc && !strcmp(argv[i], "-n")) {
		n = atoi(argv[i + 1]);
		i += 2;
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (i >= argc || n < 1) {
		fprintf(stderr, "usage: torpor-test-timeit [-n N] -- CMD [ARG...]\n");
		return 2;
	}
	t = calloc((size_t)n, sizeof(*t));
	if (!t)
		return 1;
	for (int r = 0; r < n; r++) {
		long long t0 = now_us();
		int status;
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (!pid) {
			execvp(argv[i], argv + i);
			fprintf(stderr, "exec %s: %s\n", argv[i], strerror(errno));
			_exit(127);
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		t[r] = now_us() - t0;
		total += t[r];
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			printf("TIMEIT-FAIL run=%d status=%d\n", r + 1,
			       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
			return 1;
		}
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_ll);
	printf("TIMEIT n=%d median_us=%lld min_us=%lld max_us=%lld mean_us=%lld total_us=%lld\n", n,
	       n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2, t[0], t[n - 1], total / n, total);
	free(t);
	return 0;
}
