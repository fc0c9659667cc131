//! Classic BPF instructions and a small assembler with labels, for seccomp filters.

/// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// BPF_LD | BPF_W | BPF_ABS (BPF_LD and BPF_W are 0).
pub const LD_W_ABS: u16 = 0x20;
pub const ALU_AND_K: u16 = 0x04 | 0x50; // BPF_ALU | BPF_AND | BPF_K
pub const JA: u16 = 0x05; // BPF_JMP | BPF_JA
pub const JEQ_K: u16 = 0x05 | 0x10;
pub const JGT_K: u16 = 0x05 | 0x20;
pub const JGE_K: u16 = 0x05 | 0x30;
pub const JSET_K: u16 = 0x05 | 0x40;
pub const RET_K: u16 = 0x06;

/// Offsets into `struct seccomp_data`.
pub const OFF_NR: u32 = 0;
pub const OFF_ARCH: u32 = 4;
/// Low 32 bits of argument `i` (every supported arch is little-endian).
pub fn off_arg_lo(i: u32) -> u32 {
    16 + 8 * i
}
pub fn off_arg_hi(i: u32) -> u32 {
    20 + 8 * i
}

/// A jump target: the next instruction, or a label placed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Next,
    Label(usize),
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Fixed(Insn),
    Cond { code: u16, k: u32, jt: Target, jf: Target },
    Jump(usize),
}

/// Builds a program forward; labels are resolved by `finish`.
#[derive(Default)]
pub struct Assembler {
    items: Vec<Item>,
    labels: Vec<Option<usize>>,
}

impl Assembler {
    pub fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    pub fn place(&mut self, label: usize) {
        self.labels[label] = Some(self.items.len());
    }
    pub fn load(&mut self, offset: u32) {
        self.items.push(Item::Fixed(Insn { code: LD_W_ABS, jt: 0, jf: 0, k: offset }));
    }
    pub fn and(&mut self, mask: u32) {
        self.items.push(Item::Fixed(Insn { code: ALU_AND_K, jt: 0, jf: 0, k: mask }));
    }
    pub fn ret(&mut self, value: u32) {
        self.items.push(Item::Fixed(Insn { code: RET_K, jt: 0, jf: 0, k: value }));
    }
    pub fn jump(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.items.push(Item::Cond { code, k, jt, jf });
    }
    /// An unconditional jump (32-bit offset, so it reaches anywhere).
    pub fn goto(&mut self, label: usize) {
        self.items.push(Item::Jump(label));
    }

    /// The program, or an error when a conditional jump is longer than 255 instructions.
    pub fn finish(self) -> Result<Vec<Insn>, String> {
        let at = |label: usize| self.labels[label].ok_or_else(|| "seccomp: internal error: label never placed".to_string());
        let mut out = Vec::with_capacity(self.items.len());
        for (i, item) in self.items.iter().enumerate() {
            let offset = |t: Target| -> Result<u8, String> {
                let dest = match t {
                    Target::Next => i + 1,
                    Target::Label(l) => at(l)?,
                };
                let d = dest.checked_sub(i + 1).ok_or("seccomp: internal error: backward jump")?;
                u8::try_from(d).map_err(|_| "seccomp: internal error: jump too long".to_string())
            };
            out.push(match *item {
                Item::Fixed(insn) => insn,
                Item::Cond { code, k, jt, jf } => Insn { code, jt: offset(jt)?, jf: offset(jf)?, k },
                Item::Jump(l) => {
                    let d = at(l)?.checked_sub(i + 1).ok_or("seccomp: internal error: backward jump")?;
                    Insn { code: JA, jt: 0, jf: 0, k: d as u32 }
                }
            });
        }
        if out.len() > 4096 {
            return Err(format!("seccomp: the filter has {} instructions, more than the kernel's 4096", out.len()));
        }
        Ok(out)
    }
}
