//! Model 5: the ticket completion handshake (`bridge/ticket.rs`; a child
//! module of it, for its private items). A ticket starts with two
//! references, the handle's and the queue's. The owner thread takes the
//! requests (`take_requests`), then publishes the results and drops the
//! queue's reference in one step (`finish`), or, when the state word
//! shows a parked waiter, sets DONE, takes the lock and notifies. A
//! caller takes a reference of its own (`TicketRef::acquire`), waits
//! (`wait`: a short spin, then it announces itself in the state word and
//! parks on the condition variable) and reads the results
//! (`results_ref`). A third thread frees the handle, dropping its
//! reference (`release_ticket`, which `free_ticket` defers through the
//! epoch). The last reference returns the ticket to its thread's pool
//! (`recycle`, which also empties the results).
//!
//! The ticket's slot is a loom cell under loom (`sync::UnsafeCell`), so
//! loom reports a read of the results that the DONE bit did not order
//! after their writing, and a recycling that some reader's access was not
//! ordered before. A lost wake-up would be a deadlock, which loom reports
//! too. Under loom a waiter spins twice before it parks (`SPIN`).

use std::ptr::NonNull;

use super::*;
use crate::feed::FM_OP_INSERT;
use crate::loom_models::{check, spawn, with_broken};
use crate::sync::Broken;

/// A pointer that may cross to another modelled thread.
#[derive(Clone, Copy)]
struct Shared(NonNull<TicketInner>);
// SAFETY: the ticket is Send + Sync; the model keeps it alive while any
// thread holds a counted reference.
unsafe impl Send for Shared {}

impl Shared {
    /// The pointer (a method, so that closures capture the whole `Shared`).
    fn get(self) -> NonNull<TicketInner> {
        self.0
    }
}

fn model() {
    let request = Request {
        op: FM_OP_INSERT,
        key: OwnedKey::Int(1),
        value: OwnedVal::Int(2),
    };
    // As `fm_submit` registers it: the handle's and the queue's references.
    let ticket = Shared(NonNull::from(Box::leak(
        new_ticket(request.into(), None).expect("ticket"),
    )));
    let owner = spawn(move || {
        let queued = TicketRef(ticket.get());
        // SAFETY: once, on the owner thread, with the queue's reference.
        let requests = unsafe { queued.take_requests() };
        assert_eq!(requests.len(), 1);
        let result = ReqResult {
            status: FM_OK,
            flag: true,
            seq: 7,
            len: 1,
            value: OwnedVal::Int(42),
        };
        // SAFETY: as above.
        unsafe { finish(queued, Results::One(result)) };
    });
    // A caller that found the handle live (so the handle's reference is
    // still counted) takes its own before waiting.
    // SAFETY: the handle's reference keeps the ticket alive until here.
    // (Dropped by hand below: should loom find a race in `results_ref`,
    // a drop while that panic unwinds would touch the cell again.)
    let waiting = std::mem::ManuallyDrop::new(TicketRef::acquire(unsafe { ticket.get().as_ref() }));
    let freer = spawn(move || {
        // SAFETY: the handle's counted reference, dropped once.
        unsafe { release_ticket(ticket.get().as_ptr().cast()) };
    });
    let done = waiting.wait(None);
    let seen = waiting
        .results_ref()
        .as_ref()
        .and_then(|r| r.iter().next().map(|r| (r.status, r.seq)));
    drop(std::mem::ManuallyDrop::into_inner(waiting));
    owner.join().expect("owner");
    freer.join().expect("freer");
    assert_eq!(done, Ok(true), "the wait ended without the results");
    assert_eq!(seen, Some((FM_OK, 7)), "the results were not there");
}

#[test]
fn ticket_completion_handshake() {
    check("ticket", 3, model);
}

/// Negative control: publishing DONE without release lets the caller read
/// results that are not ordered after their writing.
#[test]
#[should_panic(expected = "loom model ticket-broken failed")]
fn publishing_without_release_is_caught() {
    with_broken(Broken::TicketPublish, || check("ticket-broken", 2, model));
}
