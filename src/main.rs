//! The one executable: every role is an applet chosen by the name it was started under.
fn main() {
    std::process::exit(dockbox::applets::dispatch());
}
