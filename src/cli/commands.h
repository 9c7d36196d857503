/* memprof: the subcommands that read saved reports instead of running a
 * program: `memprof report FILE.json [OPTIONS]`,
 * `memprof plot FILE.json [-o FILE.svg]` and
 * `memprof diff OLD.json NEW.json [OPTIONS]`.  Each takes argv after the
 * subcommand name and returns memprof's exit status. */
#ifndef MEMPROF_COMMANDS_H
#define MEMPROF_COMMANDS_H

int mp_cmd_report(int argc, char **argv);
int mp_cmd_plot(int argc, char **argv);
int mp_cmd_diff(int argc, char **argv);

#endif
