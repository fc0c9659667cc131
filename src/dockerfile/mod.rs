//! Dockerfiles as Docker's classic builder reads them, and `.dockerignore` patterns.
//!
//! - [`Dockerfile::parse`]: parser directives (`# syntax=`, `# escape=`), comments, line
//!   continuations, every instruction with its flags, exec (JSON) and shell forms, grouped into
//!   build stages; errors carry the line and Docker's wording.
//! - [`shell`]: word expansion (`$VAR`, `${VAR:-x}`, quotes, escapes) with an environment the
//!   builder supplies; [`Command::expand`] applies it to the instructions Docker expands.
//! - [`ignore`]: `.dockerignore` reading and Docker's pattern matcher.
//!
//! Nothing here knows of daemons, images or containers: the builder interprets the result.

pub mod ignore;
mod instructions;
mod parser;
pub mod shell;

use std::fmt;
use std::time::Duration;

pub use instructions::parse_commands;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    /// The escape character (`\`, or `` ` `` from `# escape=`` ` ``), also the one word
    /// expansion must use.
    pub escape: char,
    /// The `# syntax=` directive's value, if any (the classic builder does not act on it).
    pub syntax: Option<String>,
    /// The ARG instructions before the first FROM (their values can be used in FROM lines).
    pub args_before_from: Vec<ArgInstruction>,
    pub stages: Vec<Stage>,
    /// Docker's parser warnings (`Empty continuation line found in: ...`), to print as
    /// `[WARNING]: ...` lines.
    pub warnings: Vec<String>,
}

/// Where an instruction came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The instruction's text, continuation lines joined, trimmed (what Docker prints in
    /// `Step N/M : <original>`).
    pub original: String,
    /// The keyword as written (`run`, `RUN`, ...).
    pub keyword: String,
    /// First and last line (1-based) of the instruction in the file.
    pub start_line: usize,
    pub end_line: usize,
}

/// An ARG before the first FROM.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgInstruction {
    pub source: Source,
    pub args: Vec<ArgDefinition>,
}

/// One build stage: its FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// The FROM instruction.
    pub source: Source,
    /// `AS name`, lowercased (stage names are case-insensitive).
    pub name: Option<String>,
    /// The image or stage name as written (expand it with the ARGs before FROM).
    pub base_name: String,
    /// `--platform=`, as written (expand it like `base_name`).
    pub platform: Option<String>,
    pub instructions: Vec<Instruction>,
}

/// One instruction of a stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    pub source: Source,
    pub command: Command,
}

/// A `key=value` pair of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    /// Written in the old `ENV key value` / `LABEL key value` form.
    pub legacy_form: bool,
}

/// An ARG's name and its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDefinition {
    pub key: String,
    pub value: Option<String>,
}

/// RUN, CMD, ENTRYPOINT's command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// Exec form: the JSON array; shell form: one element, the command text (the builder
    /// prepends the stage's SHELL).
    pub args: Vec<String>,
    /// Shell form.
    pub prepend_shell: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCommand {
    pub command: CommandLine,
    /// `--mount=` values, as written.
    pub mounts: Vec<String>,
    /// `--network=` (default, none or host).
    pub network: Option<String>,
    /// `--security=` (sandbox or insecure).
    pub security: Option<String>,
    /// `--device=` values, as written.
    pub devices: Vec<String>,
    /// The flags given, in order, without `--` (the classic builder refuses every one).
    pub flags_used: Vec<String>,
}

/// COPY's and ADD's common part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    pub sources: Vec<String>,
    pub dest: String,
    /// `--chown=` (empty means unset).
    pub chown: Option<String>,
    /// `--chmod=`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--exclude=` patterns.
    pub excludes: Vec<String>,
    /// Written as a JSON array.
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyCommand {
    pub spec: CopySpec,
    /// `--from=` stage name, stage index or image.
    pub from: Option<String>,
    /// `--parents`.
    pub parents: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCommand {
    pub spec: CopySpec,
    /// `--keep-git-dir[=bool]`, when given.
    pub keep_git_dir: Option<bool>,
    /// `--checksum=`.
    pub checksum: Option<String>,
    /// `--unpack[=bool]`, when given.
    pub unpack: Option<bool>,
}

/// HEALTHCHECK's configuration, as the image config holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

/// What an instruction does, with its arguments as written (not yet expanded).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Add(AddCommand),
    Arg(Vec<ArgDefinition>),
    Cmd(CommandLine),
    Copy(CopyCommand),
    /// ENTRYPOINT; `args` empty for `ENTRYPOINT []` or an empty shell form.
    Entrypoint(CommandLine),
    Env(Vec<KeyValue>),
    /// The ports, sorted as Docker sorts them; each may expand to several words.
    Expose(Vec<String>),
    Healthcheck(Healthcheck),
    Label(Vec<KeyValue>),
    Maintainer(String),
    /// The trigger's text (`ONBUILD RUN x` stores `RUN x`), parsed again with
    /// [`parse_commands`] when a build uses the image as its base.
    Onbuild(String),
    Run(RunCommand),
    Shell(Vec<String>),
    StopSignal(String),
    User(String),
    Volume(Vec<String>),
    Workdir(String),
}

/// Which kind of failure a [`ParseError`] is: Docker prints them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The line parser failed (directives, JSON arrays of non-strings, ENV/LABEL syntax, an
    /// unterminated heredoc, no instructions): Docker says `failed to parse <file>: <message>`.
    Syntax,
    /// An instruction is wrong: `dockerfile parse error on line N: <message>`.
    Instruction,
    /// An instruction other than ARG before the first FROM: the message alone.
    NoStage,
}

/// A Dockerfile that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ParseErrorKind,
    /// Docker's message, without any prefix.
    pub message: String,
    pub start_line: usize,
    pub end_line: usize,
}

impl ParseError {
    /// The text Docker's daemon answers for this error when the Dockerfile's name (as given to
    /// the build, e.g. `Dockerfile`) is `dockerfile_name`.
    pub fn docker_message(&self, dockerfile_name: &str) -> String {
        match self.kind {
            ParseErrorKind::Syntax => format!("failed to parse {dockerfile_name}: {}", self.message),
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ParseErrorKind::Instruction => {
                write!(f, "dockerfile parse error on line {}: {}", self.start_line, self.message)
            }
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// The classic builder's answer to features only BuildKit has.
fn requires_buildkit(what: &str) -> String {
    format!("the {what} requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled")
}

impl Dockerfile {
    /// Parses a Dockerfile as Docker's classic builder does. Heredocs (`RUN <<EOF`) are
    /// refused: the classic builder cannot run them.
    pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
        instructions::parse_dockerfile(text)
    }

    /// The index of the stage named `name` (case-insensitive), for `--target` and
    /// `COPY --from`.
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }

    /// The `M` of Docker's `Step N/M`: the ARGs before FROM, each FROM and each instruction.
    pub fn total_steps(&self) -> usize {
        self.args_before_from.len() + self.stages.iter().map(|s| 1 + s.instructions.len()).sum::<usize>()
    }
}

impl Command {
    /// Docker's name of the instruction, lowercase (`run`, `copy`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Add(_) => "add",
            Command::Arg(_) => "arg",
            Command::Cmd(_) => "cmd",
            Command::Copy(_) => "copy",
            Command::Entrypoint(_) => "entrypoint",
            Command::Env(_) => "env",
            Command::Expose(_) => "expose",
            Command::Healthcheck(_) => "healthcheck",
            Command::Label(_) => "label",
            Command::Maintainer(_) => "maintainer",
            Command::Onbuild(_) => "onbuild",
            Command::Run(_) => "run",
            Command::Shell(_) => "shell",
            Command::StopSignal(_) => "stopsignal",
            Command::User(_) => "user",
            Command::Volume(_) => "volume",
            Command::Workdir(_) => "workdir",
        }
    }

    /// The instruction with its words expanded as Docker's classic builder expands them
    /// before dispatching: ENV and LABEL keys and values, ADD and COPY sources, destination,
    /// `--chown`, `--chmod` (and ADD's `--checksum`), WORKDIR, USER, VOLUME, STOPSIGNAL, ARG
    /// names and defaults, and EXPOSE (each port expanded to words). RUN, CMD, ENTRYPOINT,
    /// SHELL, HEALTHCHECK, MAINTAINER, ONBUILD and COPY's `--from` are left as written.
    /// `env` gives the stage's ENV values and the build args in scope; `escape` is
    /// [`Dockerfile::escape`].
    pub fn expand(&self, env: &dyn Fn(&str) -> Option<String>, escape: char) -> Result<Command, shell::ExpandError> {
        let x = |w: &str| shell::expand(w, env, escape);
        let xo = |w: &Option<String>| -> Result<Option<String>, shell::ExpandError> {
            match w {
                Some(v) => x(v).map(|r| Some(r).filter(|r| !r.is_empty())),
                None => Ok(None),
            }
        };
        let kvs = |list: &[KeyValue]| -> Result<Vec<KeyValue>, shell::ExpandError> {
            list.iter()
                .map(|kv| Ok(KeyValue { key: x(&kv.key)?, value: x(&kv.value)?, legacy_form: kv.legacy_form }))
                .collect()
        };
        let spec = |s: &CopySpec| -> Result<CopySpec, shell::ExpandError> {
            Ok(CopySpec {
                sources: s.sources.iter().map(|w| x(w)).collect::<Result<_, _>>()?,
                dest: x(&s.dest)?,
                chown: xo(&s.chown)?,
                chmod: xo(&s.chmod)?,
                ..s.clone()
            })
        };
        Ok(match self {
            Command::Env(list) => Command::Env(kvs(list)?),
            Command::Label(list) => Command::Label(kvs(list)?),
            Command::Copy(c) => Command::Copy(CopyCommand { spec: spec(&c.spec)?, ..c.clone() }),
            Command::Add(a) => Command::Add(AddCommand { spec: spec(&a.spec)?, checksum: xo(&a.checksum)?, ..a.clone() }),
            Command::Workdir(p) => Command::Workdir(x(p)?),
            Command::User(u) => Command::User(x(u)?),
            Command::StopSignal(s) => Command::StopSignal(x(s)?),
            Command::Volume(v) => Command::Volume(v.iter().map(|w| x(w)).collect::<Result<_, _>>()?),
            Command::Arg(args) => Command::Arg(
                args.iter()
                    .map(|a| {
                        Ok(ArgDefinition {
                            key: x(&a.key)?,
                            value: match &a.value {
                                Some(v) => Some(x(v)?),
                                None => None,
                            },
                        })
                    })
                    .collect::<Result<_, shell::ExpandError>>()?,
            ),
            Command::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    out.extend(shell::expand_words(p, env, escape)?);
                }
                Command::Expose(out)
            }
            other => other.clone(),
        })
    }

    /// The error Docker's classic builder gives when it dispatches this instruction because
    /// the instruction uses what only BuildKit does (any RUN flag such as `--mount`, COPY
    /// `--parents`, `--exclude`, ADD `--checksum`, `--keep-git-dir`, `--unpack`), or `None`.
    pub fn classic_builder_refusal(&self) -> Option<String> {
        match self {
            Command::Run(r) => r.flags_used.first().map(|f| requires_buildkit(&format!("--{f} option"))),
            Command::Copy(c) => {
                if c.parents {
                    Some(requires_buildkit("--parents option"))
                } else if !c.spec.excludes.is_empty() {
                    Some(requires_buildkit("--exclude option"))
                } else {
                    None
                }
            }
            Command::Add(a) => {
                if !a.spec.excludes.is_empty() {
                    Some(requires_buildkit("--exclude option"))
                } else if a.checksum.is_some() {
                    Some(requires_buildkit("--checksum option"))
                } else if a.keep_git_dir.is_some() {
                    Some(requires_buildkit("--keep-git-dir option"))
                } else if a.unpack.is_some() {
                    Some(requires_buildkit("--unpack option"))
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
