//! Role module, filled in by its issue.

pub fn main(_args: Vec<String>) -> i32 {
    eprintln!("not implemented yet");
    1
}
