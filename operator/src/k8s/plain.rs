//! Errors as sentences for people. Conditions and Events carry these; the raw error, with its
//! Rust shapes (`Status { … }`, `Some(…)`), goes to the operator's log only.

/// What a Kubernetes API call's failure means, in one phrase.
pub fn kube_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        kube::Error::Api(status) => format!("the API server answered {}", status.code),
        other => format!("cannot reach the API server ({})", root_cause(other)),
    }
}

/// True when the API server said the object does not exist.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 404)
}

/// True when the API server refused a write as conflicting (a precondition, a stale version).
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 409)
}

/// The innermost cause of an error, which is usually the one a person can act on
/// ("Connection refused (os error 111)", "operation timed out").
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Fragments that only a program's debug output contains; never in what a person reads.
/// The e2e suite (`e2e/tests/wording.rs`) scans every condition and Event for the same list.
#[cfg(test)]
const NOT_FOR_PEOPLE: &[&str] = include!("not_for_people.in");

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    #[test]
    fn an_api_error_is_its_message() {
        let e = kube::Error::Api(Box::new(
            Status::failure("secrets \"west-1-kubeconfig\" not found", "NotFound").with_code(404),
        ));
        assert_eq!(kube_error(&e), "secrets \"west-1-kubeconfig\" not found");
        assert!(is_not_found(&e));
        let raw = e.to_string();
        assert!(NOT_FOR_PEOPLE.iter().any(|f| raw.contains(f)), "{raw}");
        assert!(!NOT_FOR_PEOPLE.iter().any(|f| kube_error(&e).contains(f)));
    }
}
