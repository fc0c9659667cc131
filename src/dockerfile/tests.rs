//! Tests from the examples of Docker's Dockerfile reference.

use super::*;

fn parse(text: &str) -> Dockerfile {
    match Dockerfile::parse(text) {
        Ok(d) => d,
        Err(e) => panic!("parse failed: {e}"),
    }
}

fn err(text: &str) -> ParseError {
    Dockerfile::parse(text).expect_err("parse should fail")
}

fn commands(text: &str) -> Vec<Command> {
    parse(text).stages.into_iter().flat_map(|s| s.instructions).map(|i| i.command).collect()
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let v: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name: &str| v.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn shell_form(s: &str) -> CommandLine {
    CommandLine { args: vec![s.to_string()], prepend_shell: true }
}

fn exec_form(args: &[&str]) -> CommandLine {
    CommandLine { args: args.iter().map(|s| s.to_string()).collect(), prepend_shell: false }
}

#[test]
fn multi_stage_with_args_before_from() {
    let d = parse(
        "# syntax=docker/dockerfile:1\nARG  CODE_VERSION=latest\nFROM base:${CODE_VERSION} AS Builder\nRUN make\n\nFROM --platform=$BUILDPLATFORM extras:${CODE_VERSION}\nCOPY --from=builder /out /bin/\nCMD  /code/run-extras\n",
    );
    assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(d.escape, '\\');
    assert_eq!(d.args_before_from.len(), 1);
    let arg = &d.args_before_from[0];
    assert_eq!(arg.source.original, "ARG  CODE_VERSION=latest");
    assert_eq!(arg.source.start_line, 2);
    assert_eq!(arg.args, [ArgDefinition { key: "CODE_VERSION".into(), value: Some("latest".into()) }]);
    assert_eq!(d.stages.len(), 2);
    assert_eq!(d.stages[0].name.as_deref(), Some("builder"));
    assert_eq!(d.stages[0].base_name, "base:${CODE_VERSION}");
    assert_eq!(d.stages[0].source.original, "FROM base:${CODE_VERSION} AS Builder");
    assert_eq!(d.stages[1].platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(d.stages[1].name, None);
    assert_eq!(d.stage_index("BUILDER"), Some(0));
    assert_eq!(d.stage_index("nope"), None);
    assert_eq!(d.total_steps(), 1 + 2 + 1 + 2);
    let Command::Copy(copy) = &d.stages[1].instructions[0].command else { panic!() };
    assert_eq!(copy.from.as_deref(), Some("builder"));
    assert_eq!(copy.spec.sources, ["/out"]);
    assert_eq!(copy.spec.dest, "/bin/");
    assert_eq!(d.stages[1].instructions[1].command, Command::Cmd(shell_form("/code/run-extras")));
    assert_eq!(d.stages[1].instructions[1].source.start_line, 8);
    // FROM's base name expands with the args before FROM only.
    let meta = env_of(&[("CODE_VERSION", "latest")]);
    assert_eq!(shell::expand(&d.stages[0].base_name, &meta, d.escape).unwrap(), "base:latest");
}

#[test]
fn escape_directive_backtick_windows_example() {
    // The reference's Windows example: with the backtick escape, `\` is a path separator
    // and the backtick continues lines.
    let d = parse("# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\nRUN echo a `\n  b\n");
    assert_eq!(d.escape, '`');
    let c = &d.stages[0].instructions;
    let Command::Copy(copy) = &c[0].command else { panic!() };
    assert_eq!(copy.spec.dest, "c:\\");
    assert_eq!(c[1].command, Command::Run(run(shell_form("dir c:\\"))));
    assert_eq!(c[2].command, Command::Run(run(shell_form("echo a   b"))));
    assert_eq!((c[2].source.start_line, c[2].source.end_line), (6, 7));
    // Without the directive the same file continues `COPY ... c:\` into the next line.
    let d = parse("FROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n");
    let Command::Copy(copy) = &d.stages[0].instructions[0].command else { panic!() };
    assert_eq!(copy.spec.sources, ["testfile.txt", "c:RUN", "dir"]);
    assert_eq!(copy.spec.dest, "c:");
}

fn run(command: CommandLine) -> RunCommand {
    RunCommand { command, mounts: vec![], network: None, security: None, devices: vec![], flags_used: vec![] }
}

#[test]
fn parser_directives_rules() {
    // Case-insensitive keys, spaces around `=`.
    assert_eq!(parse("# ESCAPE = `\nFROM x\n").escape, '`');
    assert_eq!(parse("#escape=`\nFROM x\n").escape, '`');
    // After a comment, an empty line or an instruction, it is a comment.
    assert_eq!(parse("# about my dockerfile\n# escape=`\nFROM x\n").escape, '\\');
    assert_eq!(parse("\n# escape=`\nFROM x\n").escape, '\\');
    assert_eq!(parse("FROM x\n# escape=`\n").escape, '\\');
    // An unknown directive is a comment and ends the directives.
    assert_eq!(parse("# unknowndirective=value\n# escape=`\nFROM x\n").escape, '\\');
    // Line continuation is not supported in directives: the first line is a comment, the
    // second an (unknown) instruction.
    assert_eq!(err("# esc\\\ndirective=`\nFROM x\n").message, "unknown instruction: directive=`");
    // Repeats and bad values are errors.
    let e = err("# escape=\\\n# escape=`\nFROM x\n");
    assert_eq!(e.kind, ParseErrorKind::Syntax);
    assert_eq!(e.message, "only one escape parser directive can be used");
    assert_eq!(e.docker_message("Dockerfile"), "failed to parse Dockerfile: only one escape parser directive can be used");
    assert_eq!(err("# escape=x\nFROM x\n").message, "invalid escape token 'x' does not match ` or \\");
    // `# syntax` and `# check` are known directives.
    let d = parse("# check=skip=all\n# syntax=docker/dockerfile:1.4\n# escape=`\nFROM x\n");
    assert_eq!((d.escape, d.syntax.as_deref()), ('`', Some("docker/dockerfile:1.4")));
}

#[test]
fn comments_leading_whitespace_and_keyword_case() {
    let e = err("# Comment\n\t  RUN echo hello\n");
    assert_eq!(e.kind, ParseErrorKind::NoStage);
    assert_eq!(e.to_string(), "no build stage in current context");
    let d = parse("  from busybox\n   # indented comment\nrun echo \\\n# comment inside\n    world\nRuN echo 'a # not a comment'\n");
    let c = &d.stages[0].instructions;
    assert_eq!(d.stages[0].source.keyword, "from");
    assert_eq!(c[0].command, Command::Run(run(shell_form("echo     world"))));
    assert_eq!(c[0].source.original, "run echo     world");
    assert_eq!((c[0].source.start_line, c[0].source.end_line), (3, 5));
    assert_eq!(c[1].command, Command::Run(run(shell_form("echo 'a # not a comment'"))));
    assert_eq!(c[1].source.keyword, "RuN");
}

#[test]
fn exec_and_shell_forms() {
    let c = commands(
        "FROM x\nRUN [\"/bin/bash\", \"-c\", \"echo hello\"]\nRUN /bin/bash -c 'source $HOME/.bashrc && \\\necho $HOME'\nCMD [\"echo\", \"$HOME\"]\nENTRYPOINT [\"top\", \"-b\"]\nENTRYPOINT exec top -b\nRUN [ \"echo\", 'single' ]\nENTRYPOINT []\nSHELL [\"powershell\", \"-command\"]\nCMD\n",
    );
    assert_eq!(c[0], Command::Run(run(exec_form(&["/bin/bash", "-c", "echo hello"]))));
    assert_eq!(c[1], Command::Run(run(shell_form("/bin/bash -c 'source $HOME/.bashrc && echo $HOME'"))));
    assert_eq!(c[2], Command::Cmd(exec_form(&["echo", "$HOME"])));
    assert_eq!(c[3], Command::Entrypoint(exec_form(&["top", "-b"])));
    assert_eq!(c[4], Command::Entrypoint(shell_form("exec top -b")));
    // Not valid JSON (single quotes): shell form.
    assert_eq!(c[5], Command::Run(run(shell_form("[ \"echo\", 'single' ]"))));
    assert_eq!(c[6], Command::Entrypoint(exec_form(&[])));
    assert_eq!(c[7], Command::Shell(vec!["powershell".into(), "-command".into()]));
    assert_eq!(c[8], Command::Cmd(CommandLine { args: vec![], prepend_shell: true }));
    assert_eq!(err("FROM x\nSHELL powershell -command\n").to_string(), "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form");
    assert_eq!(err("FROM x\nSHELL []\n").message, "SHELL requires at least one argument");
}

#[test]
fn env_forms_from_the_reference() {
    let c = commands(
        "FROM x\nENV MY_NAME=\"John Doe\"\nENV MY_DOG=Rex\\ The\\ Dog\nENV MY_CAT=fluffy\nENV MY_NAME=\"John Doe\" MY_DOG=Rex\\ The\\ Dog \\\n    MY_CAT=fluffy\nENV MY_VAR my-value\nENV ONE TWO= THREE=world\n",
    );
    let kv = |k: &str, v: &str, legacy: bool| KeyValue { key: k.into(), value: v.into(), legacy_form: legacy };
    assert_eq!(c[0], Command::Env(vec![kv("MY_NAME", "\"John Doe\"", false)]));
    assert_eq!(c[1], Command::Env(vec![kv("MY_DOG", "Rex\\ The\\ Dog", false)]));
    let Command::Env(multi) = &c[3] else { panic!() };
    assert_eq!(multi.len(), 3);
    // The legacy form: the rest of the line is the value.
    assert_eq!(c[4], Command::Env(vec![kv("MY_VAR", "my-value", true)]));
    assert_eq!(c[5], Command::Env(vec![kv("ONE", "TWO= THREE=world", true)]));
    // Expansion removes quotes and escapes.
    let no_env = |_: &str| None;
    let Command::Env(expanded) = c[3].expand(&no_env, '\\').unwrap() else { panic!() };
    assert_eq!(expanded, [kv("MY_NAME", "John Doe", false), kv("MY_DOG", "Rex The Dog", false), kv("MY_CAT", "fluffy", false)]);
    assert_eq!(err("FROM x\nENV\n").to_string(), "dockerfile parse error on line 2: ENV requires at least one argument");
    assert_eq!(err("FROM x\nENV =x\n").message, "ENV names can not be blank");
    assert_eq!(err("FROM x\nENV a\n").message, "ENV must have two arguments");
    assert_eq!(err("FROM x\nENV a\n").kind, ParseErrorKind::Syntax);
}

#[test]
fn environment_replacement_example() {
    // The reference's example: each instruction sees the ENV values set before it.
    let c = commands("FROM busybox\nENV FOO=/bar\nWORKDIR ${FOO}   # WORKDIR /bar\nADD . $FOO       # ADD . /bar\nCOPY \\$FOO /quux # COPY $FOO /quux\n");
    let env = env_of(&[("FOO", "/bar")]);
    // A `#` after an instruction is not a comment: it is part of WORKDIR's argument.
    assert_eq!(c[1].expand(&env, '\\').unwrap(), Command::Workdir("/bar   # WORKDIR /bar".into()));
    let Command::Add(add) = c[2].expand(&env, '\\').unwrap() else { panic!() };
    assert_eq!(add.spec.sources, [".", "/bar", "#", "ADD", "."]);
    let Command::Copy(copy) = c[3].expand(&env, '\\').unwrap() else { panic!() };
    assert_eq!(copy.spec.sources[0], "$FOO");
    // ENV abc=hello; ENV abc=bye def=$abc; ENV ghi=$abc: def is hello, ghi is bye.
    let c = commands("FROM x\nENV abc=bye def=$abc\n");
    let env = env_of(&[("abc", "hello")]);
    let Command::Env(e) = c[0].expand(&env, '\\').unwrap() else { panic!() };
    assert_eq!(e[1].value, "hello");
}

#[test]
fn label_forms() {
    let c = commands(
        "FROM x\nLABEL \"com.example.vendor\"=\"ACME Incorporated\"\nLABEL com.example.label-with-value=\"foo\" version=\"1.0\" description=\"This text illustrates \\\nthat label-values can span multiple lines.\"\nLABEL maintainer docker <docker@docker.io>\n",
    );
    let no_env = |_: &str| None;
    let Command::Label(l) = c[0].expand(&no_env, '\\').unwrap() else { panic!() };
    assert_eq!((l[0].key.as_str(), l[0].value.as_str()), ("com.example.vendor", "ACME Incorporated"));
    let Command::Label(l) = c[1].expand(&no_env, '\\').unwrap() else { panic!() };
    assert_eq!(l.len(), 3);
    assert_eq!(l[2].value, "This text illustrates that label-values can span multiple lines.");
    let Command::Label(l) = &c[2] else { panic!() };
    assert_eq!((l[0].key.as_str(), l[0].value.as_str(), l[0].legacy_form), ("maintainer", "docker <docker@docker.io>", true));
}

#[test]
fn arg_scoping_example() {
    let d = parse("FROM busybox\nUSER ${username:-some_user}\nARG username\nUSER $username\nARG CONT_IMG_VER v1.0.0\nARG user1=someuser buildno\n");
    let c = &d.stages[0].instructions;
    // Before the ARG, the variable is not in scope: the default applies.
    let none = |_: &str| None;
    assert_eq!(c[0].command.expand(&none, '\\').unwrap(), Command::User("some_user".into()));
    let given = env_of(&[("username", "what_user")]);
    assert_eq!(c[2].command.expand(&given, '\\').unwrap(), Command::User("what_user".into()));
    assert_eq!(c[1].command, Command::Arg(vec![ArgDefinition { key: "username".into(), value: None }]));
    // ARG takes several names, with or without defaults.
    assert_eq!(
        c[3].command,
        Command::Arg(vec![
            ArgDefinition { key: "CONT_IMG_VER".into(), value: None },
            ArgDefinition { key: "v1.0.0".into(), value: None }
        ])
    );
    assert_eq!(
        c[4].command,
        Command::Arg(vec![
            ArgDefinition { key: "user1".into(), value: Some("someuser".into()) },
            ArgDefinition { key: "buildno".into(), value: None }
        ])
    );
    let no_env = |_: &str| None;
    let c = commands("FROM x\nARG V=\"a b\" W=${V:-d}\n");
    let Command::Arg(a) = c[0].expand(&no_env, '\\').unwrap() else { panic!() };
    assert_eq!(a[0].value.as_deref(), Some("a b"));
    assert_eq!(a[1].value.as_deref(), Some("d"));
    assert_eq!(err("FROM x\nARG\n").message, "ARG requires at least one argument");
    assert_eq!(err("FROM x\nARG =x\n").message, "ARG names can not be blank");
}

#[test]
fn from_errors() {
    let e = err("FROM a\nRUN x\nRUN y\nRUN z\nFROM a b\n");
    assert_eq!(e.kind, ParseErrorKind::Instruction);
    assert_eq!(e.start_line, 5);
    assert_eq!(e.to_string(), "dockerfile parse error on line 5: FROM requires either one or three arguments");
    assert_eq!(err("FROM\n").message, "FROM requires either one or three arguments");
    assert_eq!(err("FROM a AS 1x\n").message, "invalid name for build stage: \"1x\", name can't start with a number or contain symbols");
    assert_eq!(err("FROM a as b$\n").message, "invalid name for build stage: \"b$\", name can't start with a number or contain symbols");
    assert_eq!(err("FROM --plaform=linux a\n").message, "unknown flag: --plaform (did you mean platform?)");
    assert_eq!(err("FROM --platform a\n").message, "missing a value on flag: --platform");
    assert_eq!(parse("FROM a AS My-Stage.1_x\n").stages[0].name.as_deref(), Some("my-stage.1_x"));
    assert_eq!(parse("FROM scratch\n").stages[0].base_name, "scratch");
}

#[test]
fn unknown_instructions_and_empty_files() {
    let e = err("FROM busybox\nRUN true\nFOO bar\n");
    assert_eq!(e.to_string(), "dockerfile parse error on line 3: unknown instruction: FOO (did you mean FROM?)");
    assert_eq!(err("FROM busybox\nBLAHBLAH x\n").message, "unknown instruction: BLAHBLAH");
    assert_eq!(err("FROM busybox\nCOPPY a b\n").message, "unknown instruction: COPPY (did you mean COPY?)");
    assert_eq!(err("FROM busybox\nruun a\n").message, "unknown instruction: ruun (did you mean run?)");
    let e = err("# only a comment\n\n");
    assert_eq!((e.kind, e.message.as_str()), (ParseErrorKind::Syntax, "file with no instructions"));
    assert_eq!(err("").message, "file with no instructions");
    // Only ARGs: no stage at all (the builder then says no image was generated).
    let d = parse("ARG a\n");
    assert!(d.stages.is_empty());
    assert_eq!(err("ARG a\nENV b=c\n").kind, ParseErrorKind::NoStage);
}

#[test]
fn copy_and_add_flags() {
    let c = commands(
        "FROM x\nCOPY --chown=55:mygroup files* /somedir/\nCOPY --chown=bin --chmod=644 --link [\"a b\", \"/c d/\"]\nADD --chown=myuser:mygroup --chmod=655 https://example.com/x.tar.gz /\nCOPY --from=0 /a /b\nADD --keep-git-dir=true --checksum=sha256:abc --unpack=false src /\nCOPY --exclude=*.md --exclude=*.txt --parents a/b ./\n",
    );
    let Command::Copy(c0) = &c[0] else { panic!() };
    assert_eq!(c0.spec.chown.as_deref(), Some("55:mygroup"));
    assert_eq!((c0.spec.chmod.as_deref(), c0.spec.link, c0.spec.json), (None, false, false));
    assert_eq!(c[0].classic_builder_refusal(), None);
    let Command::Copy(c1) = &c[1] else { panic!() };
    assert_eq!(c1.spec.sources, ["a b"]);
    assert_eq!(c1.spec.dest, "/c d/");
    assert!(c1.spec.json && c1.spec.link);
    assert_eq!(c1.spec.chmod.as_deref(), Some("644"));
    let Command::Add(a2) = &c[2] else { panic!() };
    assert_eq!(a2.spec.sources, ["https://example.com/x.tar.gz"]);
    assert_eq!(c[2].classic_builder_refusal(), None);
    let Command::Copy(c3) = &c[3] else { panic!() };
    assert_eq!(c3.from.as_deref(), Some("0"));
    let Command::Add(a4) = &c[4] else { panic!() };
    assert_eq!((a4.keep_git_dir, a4.checksum.as_deref(), a4.unpack), (Some(true), Some("sha256:abc"), Some(false)));
    assert!(c[4].classic_builder_refusal().unwrap().starts_with("the --checksum option requires BuildKit."));
    let Command::Copy(c5) = &c[5] else { panic!() };
    assert_eq!(c5.spec.excludes, ["*.md", "*.txt"]);
    assert!(c5.parents);
    assert_eq!(
        c[5].classic_builder_refusal().unwrap(),
        "the --parents option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
    );
    // Expansion covers --chown and --chmod, not --from.
    let env = env_of(&[("U", "app"), ("S", "builder")]);
    let c = commands("FROM x\nCOPY --from=$S --chown=$U:$U --chmod=${M:-755} a ${D:-/dst}\n");
    let Command::Copy(e) = c[0].expand(&env, '\\').unwrap() else { panic!() };
    assert_eq!((e.from.as_deref(), e.spec.chown.as_deref(), e.spec.chmod.as_deref(), e.spec.dest.as_str()), (Some("$S"), Some("app:app"), Some("755"), "/dst"));
    // Docker's flag errors.
    assert_eq!(err("FROM x\nCOPY --chonw=a b c\n").message, "unknown flag: --chonw (did you mean chown?)");
    assert_eq!(err("FROM x\nCOPY --bogus b c\n").message, "unknown flag: --bogus");
    assert_eq!(err("FROM x\nCOPY --from b c\n").message, "missing a value on flag: --from");
    assert_eq!(err("FROM x\nCOPY --from=a --from=b b c\n").message, "duplicate flag specified: --from");
    assert_eq!(err("FROM x\nCOPY --link=maybe b c\n").message, "expecting boolean value for flag --link, not: maybe");
    assert_eq!(err("FROM x\nCOPY --link= b c\n").message, "missing a value on flag: --link");
    assert_eq!(err("FROM x\nCOPY onlyone\n").message, "COPY requires at least two arguments, but only one was provided. Destination could not be determined");
    assert_eq!(err("FROM x\nADD\n").message, "ADD requires at least two arguments, but only one was provided. Destination could not be determined");
    assert_eq!(err("FROM x\nCOPY --from=a\n").message, "COPY requires at least two arguments, but only one was provided. Destination could not be determined");
    // `--` ends the flags.
    let c = commands("FROM x\nCOPY -- --weird /dst\n");
    let Command::Copy(c0) = &c[0] else { panic!() };
    assert_eq!(c0.spec.sources, ["--weird"]);
}

#[test]
fn run_flags_are_parsed_then_refused_by_the_classic_builder() {
    let c = commands("FROM x\nRUN --mount=type=cache,target=/root/.cache go build\nRUN --network=none --security=insecure true\nRUN true\n");
    let Command::Run(r) = &c[0] else { panic!() };
    assert_eq!(r.mounts, ["type=cache,target=/root/.cache"]);
    assert_eq!(r.command, shell_form("go build"));
    assert_eq!(
        c[0].classic_builder_refusal().unwrap(),
        "the --mount option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
    );
    let Command::Run(r) = &c[1] else { panic!() };
    assert_eq!((r.network.as_deref(), r.security.as_deref()), (Some("none"), Some("insecure")));
    assert_eq!(r.flags_used, ["network", "security"]);
    assert!(c[1].classic_builder_refusal().unwrap().starts_with("the --network option requires BuildKit."));
    assert_eq!(c[2].classic_builder_refusal(), None);
    assert_eq!(err("FROM x\nRUN --network=bridge true\n").message, "invalid network mode \"bridge\"");
    assert_eq!(err("FROM x\nRUN --security=x true\n").message, "security \"x\" is not valid");
    assert_eq!(err("FROM x\nRUN --mnt=x true\n").message, "unknown flag: --mnt (did you mean mount?)");
}

#[test]
fn heredocs_are_refused() {
    let e = err("FROM x\nRUN <<EOF\napt-get update\nEOF\nRUN true\n");
    assert_eq!(e.kind, ParseErrorKind::Instruction);
    assert_eq!((e.start_line, e.end_line), (2, 4));
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 2: the heredoc syntax requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
    );
    // A shell heredoc inside the command is one too (Docker's parser takes its body).
    assert!(err("FROM x\nRUN cat <<'EOT' > /f\nhello\nEOT\n").message.contains("heredoc syntax requires BuildKit"));
    assert!(err("FROM x\nCOPY <<-EOF /f\n\tx\n\tEOF\n").message.contains("heredoc syntax requires BuildKit"));
    assert!(err("FROM x\nONBUILD RUN <<EOF\nx\nEOF\n").message.contains("heredoc syntax requires BuildKit"));
    assert_eq!(err("FROM x\nRUN <<EOF\nnever ends\n").message, "unterminated heredoc");
    // Not heredocs: JSON form, `<<` inside other instructions, a bare `<<`.
    let c = commands("FROM x\nRUN [\"sh\", \"-c\", \"cat <<EOF\"]\nENV A=<<EOF\nRUN echo a <b\nRUN echo \"<<EOF\"x y\n");
    assert_eq!(c.len(), 4);
}

#[test]
fn onbuild_triggers() {
    let c = commands("FROM x\nONBUILD ADD . /app/src\nONBUILD RUN /usr/local/bin/python-build --dir /app/src\nonbuild  copy --from=a b c\n");
    assert_eq!(c[0], Command::Onbuild("ADD . /app/src".into()));
    assert_eq!(c[1], Command::Onbuild("RUN /usr/local/bin/python-build --dir /app/src".into()));
    assert_eq!(c[2], Command::Onbuild("copy --from=a b c".into()));
    // ONBUILD is not expanded.
    let env = env_of(&[("A", "x")]);
    let c = commands("FROM x\nONBUILD RUN echo $A\n");
    assert_eq!(c[0].expand(&env, '\\').unwrap(), Command::Onbuild("RUN echo $A".into()));
    assert_eq!(err("FROM x\nONBUILD ONBUILD RUN x\n").message, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    assert_eq!(err("FROM x\nONBUILD FROM y\n").message, "FROM isn't allowed as an ONBUILD trigger");
    assert_eq!(err("FROM x\nONBUILD maintainer me\n").message, "MAINTAINER isn't allowed as an ONBUILD trigger");
    assert_eq!(err("FROM x\nONBUILD\n").message, "ONBUILD requires at least one argument");
    // The trigger is parsed again when a build uses the image.
    let parsed = parse_commands("ADD . /app/src").unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].0, "ADD");
    let Command::Add(a) = &parsed[0].1.as_ref().unwrap().command else { panic!() };
    assert_eq!(a.spec.dest, "/app/src");
    // `docker commit --change` goes the same way; FROM is no command there.
    let parsed = parse_commands("ENV A=b\nFROM x\nBAD y").unwrap();
    assert!(parsed[0].1.is_ok());
    assert_eq!(parsed[1].1.as_ref().unwrap_err().message, "*instructions.Stage is not a command type");
    assert_eq!(parsed[2].0, "BAD");
    assert!(parsed[2].1.is_err());
}

#[test]
fn healthcheck_options_and_validation() {
    let c = commands(
        "FROM x\nHEALTHCHECK --interval=5m --timeout=3s \\\n  CMD curl -f http://localhost/ || exit 1\nHEALTHCHECK --start-period=1m30s --start-interval=5s --retries=5 CMD [\"/bin/check\", \"-q\"]\nHEALTHCHECK NONE\nhealthcheck cmd true\n",
    );
    let Command::Healthcheck(h) = &c[0] else { panic!() };
    assert_eq!(h.test, ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]);
    assert_eq!((h.interval, h.timeout, h.retries), (Duration::from_secs(300), Duration::from_secs(3), 0));
    let Command::Healthcheck(h) = &c[1] else { panic!() };
    assert_eq!(h.test, ["CMD", "/bin/check", "-q"]);
    assert_eq!((h.start_period, h.start_interval, h.retries), (Duration::from_secs(90), Duration::from_secs(5), 5));
    let Command::Healthcheck(h) = &c[2] else { panic!() };
    assert_eq!(h.test, ["NONE"]);
    let Command::Healthcheck(h) = &c[3] else { panic!() };
    assert_eq!(h.test, ["CMD-SHELL", "true"]);
    let e = |t: &str| err(&format!("FROM x\n{t}\n")).message;
    assert_eq!(e("HEALTHCHECK"), "HEALTHCHECK requires at least one argument");
    assert_eq!(e("HEALTHCHECK NONE x"), "HEALTHCHECK NONE takes no arguments");
    assert_eq!(e("HEALTHCHECK CMD"), "Missing command after HEALTHCHECK CMD");
    assert_eq!(e("HEALTHCHECK RUN x"), "Unknown type \"RUN\" in HEALTHCHECK (try CMD)");
    assert_eq!(e("HEALTHCHECK --interval=10 CMD x"), "time: missing unit in duration \"10\"");
    assert_eq!(e("HEALTHCHECK --interval=1us CMD x"), "Interval \"interval\" cannot be less than 1ms");
}

#[test]
fn healthcheck_zero_and_retries_errors() {
    let c = commands("FROM x\nHEALTHCHECK --timeout=0s CMD x\n");
    let Command::Healthcheck(h) = &c[0] else { panic!() };
    assert_eq!(h.timeout, Duration::ZERO);
    let e = |t: &str| err(&format!("FROM x\n{t}\n")).message;
    assert_eq!(e("HEALTHCHECK --retries=-1 CMD x"), "--retries cannot be negative (-1)");
    assert_eq!(e("HEALTHCHECK --retries=x CMD x"), "strconv.ParseInt: parsing \"x\": invalid syntax");
    assert_eq!(e("HEALTHCHECK --retries=99999999999 CMD x"), "strconv.ParseInt: parsing \"99999999999\": value out of range");
    assert_eq!(e("HEALTHCHECK --foo=1 CMD x"), "unknown flag: --foo");
}

#[test]
fn expose_volume_user_workdir_stopsignal_maintainer() {
    let c = commands(
        "FROM x\nEXPOSE 80/udp 443 80/tcp\nVOLUME [\"/data\"]\nVOLUME /var/log /var/db\nUSER patrick:1000\nWORKDIR /a\nWORKDIR b c\nSTOPSIGNAL SIGKILL\nMAINTAINER SvenDowideit@home.org.au\nEXPOSE $PORTS\n",
    );
    assert_eq!(c[0], Command::Expose(vec!["443".into(), "80/tcp".into(), "80/udp".into()]));
    assert_eq!(c[1], Command::Volume(vec!["/data".into()]));
    assert_eq!(c[2], Command::Volume(vec!["/var/log".into(), "/var/db".into()]));
    assert_eq!(c[3], Command::User("patrick:1000".into()));
    assert_eq!(c[5], Command::Workdir("b c".into()));
    assert_eq!(c[6], Command::StopSignal("SIGKILL".into()));
    assert_eq!(c[7], Command::Maintainer("SvenDowideit@home.org.au".into()));
    let env = env_of(&[("PORTS", "8080 9090/udp")]);
    assert_eq!(c[8].expand(&env, '\\').unwrap(), Command::Expose(vec!["8080".into(), "9090/udp".into()]));
    let e = |t: &str| err(&format!("FROM x\n{t}\n")).message;
    assert_eq!(e("EXPOSE"), "EXPOSE requires at least one argument");
    assert_eq!(e("VOLUME"), "VOLUME requires at least one argument");
    assert_eq!(e("VOLUME [\" \"]"), "VOLUME specified can not be an empty string");
    assert_eq!(e("USER"), "USER requires exactly one argument");
    assert_eq!(e("WORKDIR"), "WORKDIR requires exactly one argument");
    assert_eq!(e("STOPSIGNAL"), "STOPSIGNAL requires exactly one argument");
    assert_eq!(e("MAINTAINER"), "MAINTAINER requires exactly one argument");
    assert_eq!(e("USER --x=1 root"), "unknown flag: --x");
    assert_eq!(e("CMD [\"a\", 1]"), "when using JSON array syntax, arrays must be comprised of strings only");
}

#[test]
fn expansion_errors_come_back() {
    let c = commands("FROM x\nWORKDIR ${A:?need A}\n");
    let none = |_: &str| None;
    assert_eq!(c[0].expand(&none, '\\').unwrap_err().to_string(), "failed to process \"${A:?need A}\": A: need A");
}

#[test]
fn original_text_for_step_lines() {
    let d = parse("FROM busybox\nRUN echo hello && \\\n    echo world   \n  COPY  a  b  \n");
    let i = &d.stages[0].instructions;
    assert_eq!(i[0].source.original, "RUN echo hello &&     echo world");
    assert_eq!(i[1].source.original, "COPY  a  b");
    assert_eq!(i[1].source.keyword, "COPY");
    assert_eq!(i[0].command.name(), "run");
}

#[test]
fn windows_line_endings_and_bom() {
    let d = parse("\u{feff}FROM busybox\r\nRUN echo a \\\r\n  b\r\nCMD [\"sh\"]\r\n");
    let i = &d.stages[0].instructions;
    assert_eq!(i[0].command, Command::Run(run(shell_form("echo a   b"))));
    assert_eq!(i[1].command, Command::Cmd(exec_form(&["sh"])));
}

#[test]
fn long_lines_are_refused() {
    let long = format!("FROM x\nRUN {}\n", "a".repeat(70_000));
    let e = err(&long);
    assert_eq!(e.message, "dockerfile line greater than max allowed size of 65535");
}
