//! The RPC registry: one dispatch table keyed by `"<package>.<Service>/<Method>"`.
//!
//! Every protocol front-end (Connect proto, Connect JSON, gRPC) decodes framing and compression, then calls
//! [`ServiceRegistry::dispatch`] with the binary request message and gets the binary response message back.
//! Services register typed handlers with [`ServiceRegistry::unary`]; the JSON codec finds the request and
//! response message types through the registry's descriptor pool.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use prost_reflect::{DescriptorPool, MessageDescriptor};

use crate::state::ServerState;
use crate::status::Status;

/// What a handler gets besides its request: the shared server state and the request headers.
#[derive(Clone)]
pub struct RpcContext {
    /// Shared state (store, database pool, configuration).
    pub state: Arc<ServerState>,
    /// The HTTP request headers (gRPC metadata).
    pub headers: http::HeaderMap,
}

/// A type-erased handler: binary request message in, binary response message out.
type RawHandler =
    Arc<dyn Fn(RpcContext, Bytes) -> BoxFuture<'static, Result<Bytes, Status>> + Send + Sync>;

struct Method {
    handler: RawHandler,
    input: Option<MessageDescriptor>,
    output: Option<MessageDescriptor>,
}

/// The table of all served RPCs.
pub struct ServiceRegistry {
    methods: HashMap<String, Method>,
    pool: DescriptorPool,
}

impl ServiceRegistry {
    /// An empty registry whose JSON codec resolves message types in `pool`.
    pub fn new(pool: DescriptorPool) -> Self {
        ServiceRegistry {
            methods: HashMap::new(),
            pool,
        }
    }

    /// The descriptor pool used for JSON transcoding.
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// Registers a unary RPC at `path` (`"<package>.<Service>/<Method>"`) with a typed handler.
    ///
    /// Malformed request bytes are answered with `invalid_argument` before the handler runs. The request
    /// and response types for JSON are looked up in the descriptor pool by the service and method name of
    /// `path`; a path the pool does not describe is a programming error (debug builds panic).
    pub fn unary<Req, Resp, F, Fut>(&mut self, path: &str, handler: F)
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message + 'static,
        F: Fn(RpcContext, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, Status>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let raw: RawHandler = Arc::new(move |ctx, body: Bytes| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let request = Req::decode(body).map_err(|e| {
                    Status::invalid_argument(format!("malformed request message: {e}"))
                })?;
                let response = handler(ctx, request).await?;
                Ok(Bytes::from(response.encode_to_vec()))
            })
        });
        let (input, output) = self.lookup_types(path).unzip();
        debug_assert!(input.is_some(), "no descriptor for RPC {path}");
        self.methods.insert(
            path.to_owned(),
            Method {
                handler: raw,
                input,
                output,
            },
        );
    }

    /// Whether `path` is served.
    pub fn contains(&self, path: &str) -> bool {
        self.methods.contains_key(path)
    }

    /// All registered paths, sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut v: Vec<String> = self.methods.keys().cloned().collect();
        v.sort();
        v
    }

    /// The request and response descriptors of `path`, if known (needed for JSON).
    pub fn message_types(&self, path: &str) -> Option<(MessageDescriptor, MessageDescriptor)> {
        let m = self.methods.get(path)?;
        Some((m.input.clone()?, m.output.clone()?))
    }

    /// Runs the RPC at `path` on a binary request message.
    pub async fn dispatch(
        &self,
        path: &str,
        ctx: RpcContext,
        request: Bytes,
    ) -> Result<Bytes, Status> {
        match self.methods.get(path) {
            Some(m) => (m.handler)(ctx, request).await,
            None => Err(Status::unimplemented(format!("unknown RPC /{path}"))),
        }
    }

    fn lookup_types(&self, path: &str) -> Option<(MessageDescriptor, MessageDescriptor)> {
        let (service, method) = path.split_once('/')?;
        let m = self
            .pool
            .get_service_by_name(service)?
            .methods()
            .find(|m| m.name() == method)?;
        Some((m.input(), m.output()))
    }
}
