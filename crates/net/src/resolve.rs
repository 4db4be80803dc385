//! Name resolution under the host's control: the host resolves every name itself, checks
//! every address it got, and hands the connector only those, so a name is never resolved a
//! second time between the check and the connection (DNS rebinding).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

use crate::addr::AddressPolicy;

/// A boxed future of a name's addresses.
pub type Addresses = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Turns a host name into addresses. The host checks every address a resolver returns before
/// it connects to any of them; a resolver cannot widen what an app reaches, only narrow it.
///
/// The default is [`SystemResolver`]; [`StaticResolver`] answers from a fixed table (a
/// development host's names, tests).
pub trait Resolve: Send + Sync + 'static {
    /// The addresses of `host` (lower-case A-labels, never an IP literal).
    fn resolve(&self, host: &str) -> Addresses;
}

/// The operating system's resolver (`getaddrinfo`, on tokio's blocking pool).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str) -> Addresses {
        let host = host.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// A fixed table of names, like `curl --resolve`: a name not in it does not resolve.
#[derive(Clone, Default)]
pub struct StaticResolver {
    names: HashMap<String, Vec<IpAddr>>,
    fallback: Option<Arc<dyn Resolve>>,
}

impl std::fmt::Debug for StaticResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticResolver")
            .field("names", &self.names)
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

impl StaticResolver {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        StaticResolver::default()
    }

    /// Answers `host` (matched in lower case) with `addresses`.
    #[must_use]
    pub fn with(mut self, host: &str, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        self.names
            .insert(host.to_ascii_lowercase(), addresses.into_iter().collect());
        self
    }

    /// Resolves the names not in the table with `fallback` (the system's, say) instead of
    /// refusing them.
    #[must_use]
    pub fn or_else(mut self, fallback: Arc<dyn Resolve>) -> Self {
        self.fallback = Some(fallback);
        self
    }
}

impl Resolve for StaticResolver {
    fn resolve(&self, host: &str) -> Addresses {
        let found = self.names.get(host).cloned();
        if found.is_none()
            && let Some(f) = &self.fallback
        {
            return f.resolve(host);
        }
        let host = host.to_owned();
        Box::pin(async move {
            found.ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("{host} does not resolve"))
            })
        })
    }
}

/// Why the host would not connect to a name: one of its addresses is refused. Carried in
/// the connector's error so that the app is told which address and why.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, {why}, which apps may not reach")]
pub(crate) struct AddressRefused {
    pub(crate) host: String,
    pub(crate) ip: IpAddr,
    pub(crate) why: &'static str,
}

/// The resolver the connector uses: resolves through the host's [`Resolve`], refuses the
/// name if any address is refused, and answers with the checked addresses only.
#[derive(Clone)]
pub(crate) struct CheckedResolver {
    pub(crate) resolver: Arc<dyn Resolve>,
    pub(crate) policy: Arc<AddressPolicy>,
}

impl tower_service::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let host = name.as_str().to_owned();
        let lookup = self.resolver.resolve(&host);
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let ips = lookup.await?;
            checked(&host, &ips, &policy).map(|ips| {
                ips.into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter()
            })
        })
    }
}

/// `ips` if every one passes `policy` and there is at least one; a name with one refused
/// address is refused whole (an attacker's name answering one good and one bad address
/// would otherwise win whenever the bad one is tried first).
fn checked(host: &str, ips: &[IpAddr], policy: &AddressPolicy) -> io::Result<Vec<IpAddr>> {
    if ips.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} has no addresses"),
        ));
    }
    for &ip in ips {
        if let Err(why) = policy.check(ip) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                AddressRefused {
                    host: host.to_owned(),
                    ip,
                    why,
                },
            ));
        }
    }
    Ok(ips.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_refused_address_refuses_the_name() {
        let policy = AddressPolicy::default();
        let good: IpAddr = "8.8.8.8".parse().unwrap();
        let bad: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(checked("a.example", &[good], &policy).is_ok());
        assert!(checked("a.example", &[good, bad], &policy).is_err());
        assert!(checked("a.example", &[bad, good], &policy).is_err());
        assert!(checked("a.example", &[], &policy).is_err());
    }
}
