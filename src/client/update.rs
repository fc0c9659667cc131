//! `docker update [OPTIONS] CONTAINER [CONTAINER...]`: new resource limits and restart policy
//! for existing containers, parsed as run and create parse them.

use super::api::seg;
use super::flags::{flag, Kind, Parsed, Spec};
use super::{for_each, Args, Command, Ctx, Failure};
use serde_json::{json, Map, Value};

const fn typed(value_name: &'static str, spec: Spec) -> Spec {
    Spec { value_name, ..spec }
}

pub const COMMANDS: &[Command] = &[Command {
    name: "update",
    usage: "docker update [OPTIONS] CONTAINER [CONTAINER...]",
    short: "Update configuration of one or more containers",
    args: Args::AtLeast(1),
    interspersed: true,
    flags: &[
        typed("uint16", flag("blkio-weight", None, Kind::Value, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")),
        typed("int", flag("cpu-period", None, Kind::Value, "Limit CPU CFS (Completely Fair Scheduler) period")),
        typed("int", flag("cpu-quota", None, Kind::Value, "Limit CPU CFS (Completely Fair Scheduler) quota")),
        typed("int", flag("cpu-rt-period", None, Kind::Value, "Limit the CPU real-time period in microseconds")),
        typed("int", flag("cpu-rt-runtime", None, Kind::Value, "Limit the CPU real-time runtime in microseconds")),
        typed("int", flag("cpu-shares", Some('c'), Kind::Value, "CPU shares (relative weight)")),
        typed("decimal", flag("cpus", None, Kind::Value, "Number of CPUs")),
        flag("cpuset-cpus", None, Kind::Value, "CPUs in which to allow execution (0-3, 0,1)"),
        flag("cpuset-mems", None, Kind::Value, "MEMs in which to allow execution (0-3, 0,1)"),
        typed("bytes", flag("memory", Some('m'), Kind::Value, "Memory limit")),
        typed("bytes", flag("memory-reservation", None, Kind::Value, "Memory soft limit")),
        typed("bytes", flag("memory-swap", None, Kind::Value, "Swap limit equal to memory plus swap: -1 to enable unlimited swap")),
        typed("int", flag("pids-limit", None, Kind::Value, "Tune container pids limit (set -1 for unlimited)")),
        flag("restart", None, Kind::Value, "Restart policy to apply when a container exits"),
    ],
    run: update_cmd,
}];

/// The HostConfig fields `docker update` sends, from the flags given; Err is a flag's
/// value the CLI's flag parsing refuses (exit 125), or a bad restart policy (exit 1).
fn update_body(p: &Parsed) -> Result<Value, Failure> {
    let flag_error = |e: String| Failure::new(format!("{e}\n\nUsage:  {}\n\nRun 'docker update --help' for more information", COMMANDS[0].usage), 125);
    let mut parsed = json!({"HostConfig": {}});
    super::resources::add_to_host_config(p, &mut parsed).map_err(flag_error)?;
    let h = &parsed["HostConfig"];
    let mut body = Map::new();
    for key in ["BlkioWeight", "CpuPeriod", "CpuQuota", "CpuShares", "NanoCpus", "CpusetCpus", "CpusetMems", "Memory", "MemoryReservation", "MemorySwap", "PidsLimit"] {
        body.insert(key.into(), h.get(key).cloned().unwrap_or(Value::Null));
    }
    for (long, key) in [("cpu-rt-period", "CpuRealtimePeriod"), ("cpu-rt-runtime", "CpuRealtimeRuntime")] {
        let v = match p.value(long) {
            Some(v) => v.parse::<i64>().map_err(|_| flag_error(format!("invalid argument \"{v}\" for \"--{long}\" flag: strconv.ParseInt: parsing \"{v}\": invalid syntax")))?,
            None => 0,
        };
        body.insert(key.into(), json!(v));
    }
    let restart = match p.value("restart") {
        Some(v) if !v.is_empty() => super::create_flags::parse_restart(v).map_err(|e| Failure::new(e, 1))?,
        _ => json!({"Name": "", "MaximumRetryCount": 0}),
    };
    body.insert("RestartPolicy".into(), restart);
    Ok(Value::Object(body))
}

fn update_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    if p.values.is_empty() {
        return Err(Failure::new("you must provide one or more flags when using this command", 1));
    }
    let body = update_body(p)?;
    let api = ctx.api()?;
    for_each(&p.args, |name| api.call("POST", &format!("/containers/{}/update", seg(name)), &[], Some(&body), &[]).map(|_| Some(name.to_string())).map_err(|e| e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_the_update_body() {
        let args: Vec<String> = ["-m", "64m", "--memory-swap", "-1", "--cpus", "0.5", "--pids-limit", "20", "--restart", "on-failure:3", "c1"].iter().map(|s| s.to_string()).collect();
        let p = super::super::flags::parse(COMMANDS[0].flags, &args, true).unwrap();
        let b = update_body(&p).map_err(|f| f.message).unwrap();
        assert_eq!(b["Memory"], 67108864);
        assert_eq!(b["MemorySwap"], -1);
        assert_eq!(b["NanoCpus"], 500000000);
        assert_eq!(b["PidsLimit"], 20);
        assert_eq!(b["CpuShares"], 0);
        assert_eq!(b["RestartPolicy"], json!({"Name": "on-failure", "MaximumRetryCount": 3}));
        let p = super::super::flags::parse(COMMANDS[0].flags, &["-c".to_string(), "512".to_string(), "x".to_string()], true).unwrap();
        let b = update_body(&p).map_err(|f| f.message).unwrap();
        assert_eq!((b["CpuShares"].clone(), b["PidsLimit"].clone(), b["RestartPolicy"]["Name"].clone()), (json!(512), Value::Null, json!("")));
    }
}
