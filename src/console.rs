//! The run's voice before rows flow: the warnings found at start, the plan
//! of a deletion, its confirmation. (Once rows flow, the reporter owns the
//! output.)

/// How a run talks to whoever started it before its rows flow: the
/// warnings found at start, the plan of a deletion, its confirmation. (Once
/// rows flow, the reporter owns the output.)
pub trait Console {
    /// A warning (an unknown config key or column…).
    fn warn(&mut self, message: String);
    /// A line of a plan, shown before anything is deleted.
    fn say(&mut self, line: String);
    /// Asks the operator; `None` when there is no terminal to ask on.
    fn ask(&mut self, prompt: &str) -> Option<String>;
}

/// A closure is a console that only hears warnings (and plan lines), and
/// cannot ask.
impl<F: FnMut(String)> Console for F {
    fn warn(&mut self, message: String) {
        self(message);
    }

    fn say(&mut self, line: String) {
        self(line);
    }

    fn ask(&mut self, _prompt: &str) -> Option<String> {
        None
    }
}
