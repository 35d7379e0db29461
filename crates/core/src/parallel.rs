//! Work split over the cores, with results that do not depend on the split.

use std::sync::{Mutex, PoisonError};

/// `f` of every item, computed on every core, in the items' order.
///
/// Workers take the next item as they finish one, so items of different cost share the cores;
/// each result depends only on its item, so the output is the same on any number of cores. A panic
/// in `f` is raised again on the caller's thread.
pub fn parallel_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    parallel_map_owned(items.iter().collect(), f)
}

/// [`parallel_map`] taking the items by value: for work that owns what it is given (a writer, a
/// mutable view of its part of a matrix).
pub fn parallel_map_owned<T: Send, U: Send>(items: Vec<T>, f: impl Fn(T) -> U + Sync) -> Vec<U> {
    parallel_map_on(std::thread::available_parallelism().map_or(1, |n| n.get()), items, f)
}

/// [`parallel_map_owned`] on at most `threads` threads (for tests that hold a result to be the same
/// on any number).
pub fn parallel_map_on<T: Send, U: Send>(threads: usize, items: Vec<T>, f: impl Fn(T) -> U + Sync) -> Vec<U> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let queue = Mutex::new(items.into_iter().enumerate());
    let mut done: Vec<(usize, U)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        // A poisoned queue means another worker panicked; that panic is raised
                        // when it is joined, so this worker just takes what is left.
                        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                        let Some((i, item)) = next else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, u)| u).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_the_items_order() {
        let items: Vec<u64> = (0..1_000).collect();
        // Uneven costs, so workers finish out of order.
        let squares = parallel_map(&items, |&i| {
            if i % 7 == 0 {
                std::thread::yield_now();
            }
            i * i
        });
        assert_eq!(squares, items.iter().map(|i| i * i).collect::<Vec<_>>());
        assert_eq!(parallel_map(&[] as &[u64], |&i| i), Vec::<u64>::new());
        assert_eq!(parallel_map(&[3u64], |&i| i + 1), vec![4]);
        let owned: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        assert_eq!(
            parallel_map_owned(owned.clone(), |s| s + "!"),
            owned.iter().map(|s| format!("{s}!")).collect::<Vec<_>>()
        );
    }
}
