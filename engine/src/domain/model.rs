//! ML models that pre-annotate tasks: a label with its own accuracy, after an inference latency.

use super::{noisy_label, Msg};
use crate::kernel::{Actor, ActorId, Context};
use crate::time::Dur;

/// A pre-annotation model actor.
pub struct Model {
    pub dispatcher: ActorId,
    /// Probability that the pre-label is the true label.
    pub accuracy: f64,
    /// Inference time per task.
    pub latency: Dur,
}

impl Actor<Msg> for Model {
    fn handle<C: Context<Msg> + ?Sized>(&mut self, msg: Msg, ctx: &mut C) {
        if let Msg::PreAnnotate { task, truth, classes } = msg {
            let label = noisy_label(truth, classes, self.accuracy, ctx.rng());
            ctx.send_in(self.latency, self.dispatcher, Msg::PreLabel { task, label });
        }
    }
}
