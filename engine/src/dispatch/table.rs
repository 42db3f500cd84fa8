//! The table of live tasks: a slab whose slots are reused once a task is final.

use crate::domain::task::TaskState;
use crate::domain::TaskSlot;

#[derive(Default)]
pub struct TaskTable {
    slots: Vec<Option<TaskState>>,
    free: Vec<TaskSlot>,
    live: usize,
}

impl TaskTable {
    /// Stores a task; `make` receives the slot it will live in.
    pub fn insert(&mut self, make: impl FnOnce(TaskSlot) -> TaskState) -> TaskSlot {
        self.live += 1;
        if let Some(slot) = self.free.pop() {
            self.slots[slot as usize] = Some(make(slot));
            slot
        } else {
            let slot = self.slots.len() as TaskSlot;
            self.slots.push(Some(make(slot)));
            slot
        }
    }
    pub fn get(&self, slot: TaskSlot) -> &TaskState {
        self.slots[slot as usize].as_ref().expect("task slot is live")
    }
    pub fn get_mut(&mut self, slot: TaskSlot) -> &mut TaskState {
        self.slots[slot as usize].as_mut().expect("task slot is live")
    }
    pub fn remove(&mut self, slot: TaskSlot) -> TaskState {
        self.live -= 1;
        self.free.push(slot);
        self.slots[slot as usize].take().expect("task slot is live")
    }
    /// Tasks not yet final.
    pub fn live(&self) -> usize {
        self.live
    }
    pub fn iter(&self) -> impl Iterator<Item = &TaskState> {
        self.slots.iter().flatten()
    }
}
