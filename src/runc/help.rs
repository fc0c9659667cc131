//! runc's help screens: `runc --help`, `runc help [COMMAND]` and `runc COMMAND -h/--help`,
//! one for every command runc 1.1 has (`checkpoint` and `restore` included: their help works
//! although the commands refuse to run). The flag names are runc's, so that tools which read
//! them (and people) find what runc offers; the descriptions are ours.

/// The top-level help (`runc`, `runc --help`, `runc help`).
pub const MAIN: &str = "NAME:
   runc - Open Container Initiative runtime

USAGE:
   runc [global options] command [command options] [arguments...]

COMMANDS:
   checkpoint  checkpoint a running container (not supported: no CRIU)
   create      create a container
   delete      delete any resources held by the container often used with detached container
   events      display container events such as OOM notifications, cpu, memory, and IO usage statistics
   exec        execute new process inside the container
   kill        kill sends the specified signal (default: SIGTERM) to the container's init process
   list        lists containers started by runc with the given root
   pause       pause suspends all processes inside the container
   ps          ps displays the processes running inside a container
   restore     restore a container from a previous checkpoint (not supported: no CRIU)
   resume      resumes all processes that have been previously paused
   run         create and run a container
   spec        create a new specification file
   start       executes the user defined process in a created container
   state       output the state of a container
   update      update container resource constraints
   features    show the enabled features
   help, h     Shows a list of commands or help for one command

GLOBAL OPTIONS:
   --debug             enable debug logging
   --log value         set the log file to write runc logs to (default is '/dev/stderr')
   --log-format value  set the log format ('text' (default), or 'json') (default: \"text\")
   --root value        root directory for storage of container state (this should be located in tmpfs) (default: \"/run/runc\")
   --help, -h          show help
   --version, -v       print the version
";

const BUNDLE: &str = "   --bundle value, -b value  path to the root of the bundle directory, defaults to the current directory\n";
const CONSOLE: &str = "   --console-socket value    path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal\n";
const PID_FILE: &str = "   --pid-file value          specify the file to write the process id to\n";
const NO_PIVOT: &str = "   --no-pivot                do not use pivot root to jail process inside rootfs\n";
const NO_KEYRING: &str = "   --no-new-keyring          do not create a new session keyring for the container\n";
const PRESERVE: &str = "   --preserve-fds value      Pass N additional file descriptors to the container (stdio + N in total) (default: 0)\n";

/// `runc COMMAND --help` for a command runc has; None for an unknown one.
pub fn command(cmd: &str) -> Option<String> {
    let (summary, usage, flags): (&str, &str, String) = match cmd {
        "create" => ("create a container", "runc create [command options] <container-id>", [BUNDLE, CONSOLE, PID_FILE, NO_PIVOT, NO_KEYRING, PRESERVE].concat()),
        "run" => (
            "create and run a container",
            "runc run [command options] <container-id>",
            [BUNDLE, CONSOLE, "   --detach, -d              detach from the container's process\n   --keep                    do not delete the container after it exits\n", PID_FILE, "   --no-subreaper            disable the use of the subreaper used to reap reparented processes\n", NO_PIVOT, NO_KEYRING, PRESERVE].concat(),
        ),
        "start" => ("executes the user defined process in a created container", "runc start <container-id>", String::new()),
        "state" => ("output the state of a container", "runc state <container-id>", String::new()),
        "list" => ("lists containers started by runc with the given root", "runc list [command options]", "   --format value, -f value  select one of: table or json (default: \"table\")\n   --quiet, -q               display only container IDs\n".into()),
        "kill" => ("kill sends the specified signal (default: SIGTERM) to the container's init process", "runc kill [command options] <container-id> [signal]", "   --all, -a  send the specified signal to all processes inside the container\n".into()),
        "delete" => ("delete any resources held by the container often used with detached container", "runc delete [command options] <container-id>", "   --force, -f  Forcibly deletes the container if it is still running (uses SIGKILL)\n".into()),
        "spec" => ("create a new specification file", "runc spec [command options]", "   --bundle value, -b value  path to the root of the bundle directory\n   --rootless                generate a configuration for a rootless container\n".into()),
        "exec" => (
            "execute new process inside the container",
            "runc exec [command options] <container-id> <command> [command options]  || -p process.json <container-id>",
            "   --console-socket value             path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
   --cwd value                        current working directory in the container
   --env value, -e value              set environment variables
   --tty, -t                          allocate a pseudo-TTY
   --user value, -u value             UID (format: <uid>[:<gid>])
   --additional-gids value, -g value  additional gids
   --process value, -p value          path to the process.json
   --detach, -d                       detach from the container's process
   --pid-file value                   specify the file to write the process id to
   --process-label value              set the asm process label for the process commonly used with selinux
   --apparmor value                   set the apparmor profile for the process
   --no-new-privs                     set the no new privileges value for the process
   --cap value, -c value              add a capability to the bounding set for the process
   --preserve-fds value               Pass N additional file descriptors to the container (stdio + N in total) (default: 0)
   --cgroup value                     join a sub-cgroup of the container's cgroup: [<controller>:]<path>, repeatable
   --ignore-paused                    run the process even when the container is paused
"
            .into(),
        ),
        "features" => ("show the enabled features", "runc features", String::new()),
        "update" => (
            "update container resource constraints",
            "runc update [command options] <container-id>",
            "   --resources value, -r value  path to the file containing the resources to update or '-' to read from the standard input
   --blkio-weight value         Specifies per cgroup weight, range is from 10 to 1000 (default: 0)
   --cpu-period value           CPU CFS period to be used for hardcapping (in usecs). 0 to use system default
   --cpu-quota value            CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period
   --cpu-share value            CPU shares (relative weight vs. other containers)
   --cpu-rt-period value        CPU realtime period (in usecs); 0 for the system's default
   --cpu-rt-runtime value       CPU realtime runtime allowed in each realtime period (in usecs)
   --cpuset-cpus value          CPU(s) to use
   --cpuset-mems value          Memory node(s) to use
   --memory value               Memory limit (in bytes)
   --memory-reservation value   Memory reservation or soft_limit (in bytes)
   --memory-swap value          Total memory usage (memory + swap); set '-1' to enable unlimited swap
   --pids-limit value           Maximum number of pids allowed in the container (default: 0)
   --l3-cache-schema value      Intel RDT L3 cache schema (refused: no Intel RDT here)
   --mem-bw-schema value        Intel RDT memory bandwidth schema (refused: no Intel RDT here)
"
            .into(),
        ),
        "pause" => ("pause suspends all processes inside the container", "runc pause <container-id>", String::new()),
        "resume" => ("resumes all processes that have been previously paused", "runc resume <container-id>", String::new()),
        "events" => ("display container events such as OOM notifications, cpu, memory, and IO usage statistics", "runc events [command options] <container-id>", "   --interval value  set the stats collection interval (default: 5s)\n   --stats           display the container's stats then exit\n".into()),
        "ps" => ("ps displays the processes running inside a container", "runc ps [command options] <container-id> [ps options]", "   --format value, -f value  select one of: table or json (default: \"table\")\n".into()),
        "checkpoint" => (
            "checkpoint a running container (not supported: this runtime has no CRIU, so the command always fails)",
            "runc checkpoint [command options] <container-id>",
            "   --image-path value           directory for the CRIU image files
   --work-path value            directory for CRIU's work files and logs
   --parent-path value          directory of a previous pre-dump's images
   --leave-running              keep the container running after the checkpoint
   --tcp-established            checkpoint established TCP connections
   --ext-unix-sk                allow unix sockets connected outside the container
   --shell-job                  allow a container started from a shell (a terminal job)
   --lazy-pages                 let memory pages be fetched lazily (userfaultfd)
   --status-fd value            descriptor told when lazy pages are ready (default: -1)
   --page-server value          ADDRESS:PORT of a CRIU page server
   --file-locks                 checkpoint file locks
   --pre-dump                   dump memory only and leave the container running
   --manage-cgroups-mode value  how CRIU handles cgroups: soft (default), full or strict
   --empty-ns value             a namespace to make anew, its properties not saved
   --auto-dedup                 deduplicate memory images
"
            .into(),
        ),
        "restore" => (
            "restore a container from a previous checkpoint (not supported: this runtime has no CRIU, so the command always fails)",
            "runc restore [command options] <container-id>",
            [
                CONSOLE,
                "   --image-path value           directory of the CRIU image files to restore
   --work-path value            directory for CRIU's work files and logs
   --tcp-established            restore established TCP connections
   --ext-unix-sk                allow unix sockets connected outside the container
   --shell-job                  allow a container started from a shell (a terminal job)
   --file-locks                 restore file locks
   --manage-cgroups-mode value  how CRIU handles cgroups: soft (default), full or strict
",
                BUNDLE,
                "   --detach, -d                 detach from the container's process\n",
                PID_FILE,
                "   --no-subreaper               do not become the subreaper of the restored processes\n",
                NO_PIVOT,
                "   --empty-ns value             a namespace to make anew, its properties not restored
   --auto-dedup                 deduplicate memory images
   --lazy-pages                 fetch memory pages lazily (userfaultfd)
   --lsm-profile value          LSM profile for the restored process, as TYPE:NAME
   --lsm-mount-context value    LSM mount context for the restore
",
            ]
            .concat(),
        ),
        _ => return None,
    };
    let options = if flags.is_empty() { String::new() } else { format!("\nOPTIONS:\n{flags}") };
    Some(format!("NAME:\n   runc {cmd} - {summary}\n\nUSAGE:\n   {usage}\n{options}"))
}
