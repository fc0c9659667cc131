//! ctr: a command-line client of docker-containerd.

pub fn main(_args: Vec<String>) -> i32 {
    eprintln!("not implemented yet");
    1
}
