//! `gridcast bench`: load and latency across a cluster, optionally side by side with another.
//!
//! `clients` probes connect round-robin to the URLs; together they send `rate` plain `message`
//! strings per second for `duration` (each client an equal share, below the per-socket rate
//! limit), and every client must receive every message. Each text carries its send time on the
//! benchmark's one monotonic clock, so a delivery's latency (sender → server → Redis → other
//! server → receiver) needs no clock agreement. Only the seed-compatible `message` contract is
//! used, so the same load runs against a Node.js socket.io + @socket.io/redis-adapter cluster.
//!
//! - `command`: the command line: which runs, printed how, and the exit code; `--ramp` hands the
//!   steps to [`ramp`](super::ramp) with a run as each step.
//! - `load`: one run: connects the clients, paces the sends, runs the faults.
//! - `procs`: `--procs`, the clients spread over worker processes (`gridcast bench-worker`).
//! - `clients`: the clients of one process, connected and followed until the end.
//! - `summary`: the records of a run summarised into a [`BenchReport`].
//! - `record`: what each client saw, recorded as its frames are read.
//! - `render`: reports as a table.
//! - `report`: [`BenchReport`] and its parts, the JSON output format.
//!
//! Each of these uses only those listed after it (`report` uses none of them), and nothing here
//! is used by [`ramp`](super::ramp), which is given its runs as a function.

mod clients;
mod command;
mod load;
mod procs;
mod record;
mod render;
mod report;
mod summary;

pub use command::command;
pub use procs::worker;
pub use report::{BenchReport, ConnectionLost, FaultReport};
