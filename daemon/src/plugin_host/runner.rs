//! The child's side of `isolation = "process"`: `sigild plugin-host --parent PID LIBRARY`, started by the
//! parent only. It maps the parent's already validated private copy (confinement, SHA-256 pin and ELF check
//! happened in the parent), creates the instance from the `Init` frame, and then runs calls through the same C
//! ABI as the in-process host, one worker thread per concurrent call, writing responses in batches. It dies
//! with its parent (`PR_SET_PDEATHSIG`), cannot gain privileges (`PR_SET_NO_NEW_PRIVS`), and ends when its
//! stdin closes: it destroys the instance after the calls still running return, then exits 0.

// reason: prctl is FFI; each block carries a SAFETY note. Everything else in this module is safe code.
#![allow(unsafe_code)]

use std::io::{self, BufReader};
use std::os::fd::AsFd as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use sigil_plugin_api::{HostInstance, PluginError, SIGIL_STATUS_OK};

use super::frame::{self, Hello, Op, Request};
use super::library;

/// Exit status when the runner cannot start (bad arguments, a parent already gone, no Init frame).
const EXIT_START: u8 = 70;

/// Restricts the process before any plugin code runs.
fn confine(parent: u32) -> Result<(), String> {
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes integer arguments only and touches no memory of ours.
    let no_new_privs = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if no_new_privs != 0 {
        return Err(format!(
            "PR_SET_NO_NEW_PRIVS: {}",
            io::Error::last_os_error()
        ));
    }
    // SAFETY: as above; the argument is a signal number.
    let death_signal = unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if death_signal != 0 {
        return Err(format!("PR_SET_PDEATHSIG: {}", io::Error::last_os_error()));
    }
    // The parent may have died before the death signal was armed: then nobody would ever kill us.
    if std::os::unix::process::parent_id() != parent {
        return Err("the parent process is gone".into());
    }
    Ok(())
}

/// Runs the child until its stdin closes.
pub fn run(library_path: &Path, parent: u32) -> ExitCode {
    if let Err(reason) = confine(parent) {
        eprintln!("sigild plugin-host: {reason}");
        return ExitCode::from(EXIT_START);
    }
    // Responses go to the real fd 1 through our own buffered writer; nothing else in this process may write
    // there (a plugin that does breaks the protocol, and the parent kills us).
    let stdout = match io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => std::fs::File::from(fd),
        Err(error) => {
            eprintln!("sigild plugin-host: stdout: {error}");
            return ExitCode::from(EXIT_START);
        }
    };
    let (responses, frames) = mpsc::channel::<Vec<u8>>();
    let writer = std::thread::spawn(move || {
        if frame::pump(frames, stdout).is_err() {
            // The parent stopped reading: it is gone or killing us.
            std::process::exit(1);
        }
    });
    let mut input = BufReader::with_capacity(64 * 1024, io::stdin().lock());
    let init = match frame::read_request(&mut input) {
        Ok(Some(request)) if request.op == Op::Init => request,
        other => {
            eprintln!("sigild plugin-host: expected an Init frame, got {other:?}");
            return ExitCode::from(EXIT_START);
        }
    };
    let respond = |id: u64, result: Result<Vec<u8>, PluginError>| {
        let mut bytes = Vec::new();
        match result {
            Ok(body) => frame::encode_response(&mut bytes, id, SIGIL_STATUS_OK, &body),
            Err(error) => frame::encode_response(
                &mut bytes,
                id,
                error.raw_status(),
                &error.to_message_bytes(),
            ),
        }
        bytes
    };
    let instance = match create(library_path, &init.body) {
        Ok((instance, hello)) => {
            let _ = responses.send(respond(0, Ok(hello.encode())));
            Arc::new(instance)
        }
        Err(error) => {
            let _ = responses.send(respond(0, Err(error)));
            drop(responses);
            let _ = writer.join();
            return ExitCode::SUCCESS;
        }
    };

    let (jobs, queue) = mpsc::channel::<Request>();
    let queue = Arc::new(Mutex::new(queue));
    let idle = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    loop {
        let request = match frame::read_request(&mut input) {
            Ok(Some(request)) => request,
            Ok(None) => break,
            Err(error) => {
                eprintln!("sigild plugin-host: reading requests: {error}");
                break;
            }
        };
        // The parent bounds calls in flight per instance, so this pool never outgrows that bound.
        if idle.load(Ordering::Acquire) == 0 {
            let (queue, idle, instance, responses) = (
                queue.clone(),
                idle.clone(),
                instance.clone(),
                responses.clone(),
            );
            workers.push(std::thread::spawn(move || {
                loop {
                    idle.fetch_add(1, Ordering::AcqRel);
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    idle.fetch_sub(1, Ordering::AcqRel);
                    let Ok(request) = next else { return };
                    let result = match request.op {
                        Op::Call => instance.call(&request.name, &request.body),
                        Op::Health => instance
                            .health()
                            .map(|report| frame::encode_detail(report.detail.as_deref())),
                        Op::Init => Err(PluginError::invalid_input("the instance exists already")),
                    };
                    if responses.send(respond(request.id, result)).is_err() {
                        return;
                    }
                }
            }));
        }
        let _ = jobs.send(request);
    }
    // stdin closed: finish the calls still running, destroy the instance, flush and exit.
    drop(jobs);
    for worker in workers {
        let _ = worker.join();
    }
    drop(instance);
    drop(responses);
    let _ = writer.join();
    ExitCode::SUCCESS
}

fn create(library_path: &Path, config: &[u8]) -> Result<(HostInstance, Hello), PluginError> {
    let descriptor = library::open_private_copy(library_path)
        .map_err(|e| PluginError::internal(e.to_string()))?;
    let instance = descriptor.create_instance(config)?;
    let report = instance
        .health()
        .map_err(|e| PluginError::internal(format!("health check failed: {e}")))?;
    let hello = Hello {
        kind: descriptor.kind(),
        name: descriptor.name().to_string(),
        version: descriptor.version().to_string(),
        abi_minor: descriptor.abi_minor(),
        max_concurrency: descriptor.max_concurrency(),
        health_detail: report.detail,
    };
    Ok((instance, hello))
}
