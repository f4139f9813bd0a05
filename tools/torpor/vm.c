/* torpor vm: status, pause, resume and stop one microVM through its control socket. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

#define STOP_WAIT_MS 10000

/* One API call; error responses become "torpor: <message>" and CLI_EXIT_FAIL. */
static int call(const char *sock, const char *method, const char *path, const char *body,
		struct api_response *r)
{
	char err[512];

	if (api_call(sock, method, path, body, r, err, sizeof(err)) < 0)
		return cli_fail("%s", err);
	if (r->status < 200 || r->status > 299) {
		cli_fail("%s", api_error(r, err, sizeof(err)));
		api_response_free(r);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

/* The "state" of a JSON reply, or "?" */
static void print_state(const struct api_response *r)
{
	json_t *root = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	const char *s = json_string_value(json_object_get(root, "state"));

	printf("%s\n", s ? s : "?");
	json_decref(root);
}

static int vm_status(const char *sock)
{
	struct api_response r;
	json_t *root;
	int rc = call(sock, "GET", "/vm", NULL, &r);

	if (rc)
		return rc;
	root = r.body ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
	if (root) {
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(root);
	} else {
		rc = cli_fail("%s: the response is not JSON", sock);
	}
	api_response_free(&r);
	return rc;
}

static int vm_set_state(const char *sock, const char *state)
{
	struct api_response r;
	char body[64];
	int rc;

	snprintf(body, sizeof(body), "{\"state\":\"%s\"}", state);
	rc = call(sock, "PATCH", "/vm", body, &r);
	if (rc)
		return rc;
	print_state(&r);
	api_response_free(&r);
	return CLI_EXIT_OK;
}

static int vm_stop(const char *sock)
{
	struct api_response r;
	int rc = call(sock, "PUT", "/actions", "{\"action\":\"stop\"}", &r);

	if (rc)
		return rc;
	api_response_free(&r);
	rc = api_wait_gone(sock, STOP_WAIT_MS);
	if (rc == -ETIMEDOUT)
		return cli_fail("%s: stop requested, but torpor-vmm is still there after %d s",
				sock, STOP_WAIT_MS / 1000);
	if (rc < 0)
		return cli_fail("%s: stop requested; waiting for torpor-vmm to exit: %s", sock,
				strerror(-rc));
	printf("stopped\n");
	return CLI_EXIT_OK;
}

/* PUT /snapshot/create; the VM must be paused. */
static int run_snapshot(int argc, char **argv)
{
	struct api_response r;
	json_t *o = json_pack("{s:s, s:s, s:s}", "state_path", argv[2], "mem_path", argv[3],
			      "type", argc > 4 ? argv[4] : "full");
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int rc;

	json_decref(o);
	if (!body)
		return cli_fail("out of memory");
	rc = call(argv[1], "PUT", "/snapshot/create", body, &r);
	free(body);
	if (rc)
		return rc;
	api_response_free(&r);
	printf("snapshot written: %s %s\n", argv[2], argv[3]);
	return CLI_EXIT_OK;
}

static int run_status(int argc, char **argv)
{
	return vm_status(argv[1]);
}

static int run_pause(int argc, char **argv)
{
	return vm_set_state(argv[1], "paused");
}

static int run_resume(int argc, char **argv)
{
	return vm_set_state(argv[1], "running");
}

static int run_stop(int argc, char **argv)
{
	return vm_stop(argv[1]);
}

static const struct command subcommands[] = {
	{ "status", "SOCK", "print the VM's state and configuration (JSON)", run_status },
	{ "pause", "SOCK", "pause every vCPU; returns once the VM is paused", run_pause },
	{ "resume", "SOCK", "let a paused VM run again", run_resume },
	{ "stop", "SOCK", "stop the VM; returns once torpor-vmm has exited (10 s at most)",
	  run_stop },
	{ "snapshot", "SOCK STATE MEM [full|diff]",
	  "snapshot a paused VM: state file STATE, memory file MEM (docs/api-vmm.md)",
	  run_snapshot },
};
#define NR_SUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: torpor vm <subcommand> SOCK\n"
		   "\n"
		   "Control one microVM through the control socket of its torpor-vmm\n"
		   "(torpor-vmm --control SOCK).\n"
		   "\n"
		   "Subcommands:\n");
	cli_command_list(f, subcommands, NR_SUBCOMMANDS);
	fprintf(f, "\n"
		   "pause and resume print the new state; an error prints the API's message.\n"
		   "Exit status: 0 success, 1 the request failed or was refused, 2 usage error.\n");
}

int cmd_vm(int argc, char **argv)
{
	const struct command *sub;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return CLI_EXIT_OK;
		}
	}
	if (argc < 2)
		return cli_usage_error("torpor vm", "vm: missing subcommand");
	sub = cli_command_find(subcommands, NR_SUBCOMMANDS, argv[1]);
	if (!sub)
		return cli_usage_error("torpor vm", "vm: unknown subcommand \"%s\"", argv[1]);
	if (argc < 3)
		return cli_usage_error("torpor vm", "vm %s: missing SOCK", sub->name);
	if (sub->run == run_snapshot && (argc < 5 || argc > 6))
		return cli_usage_error("torpor vm", "vm snapshot: expected SOCK STATE MEM [full|diff]");
	if (sub->run != run_snapshot && argc > 3)
		return cli_usage_error("torpor vm", "vm %s: unexpected argument \"%s\"", sub->name,
				       argv[3]);
	return sub->run(argc - 1, argv + 1);
}
