//! Input codecs: serde JSON by default, protobuf opt-in through a hand-written `TaskCodec`.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use tilebox_workflows::{
    CacheGroup, InMemoryCache, JobState, Result, Task, TaskCodec, TaskContext, TaskError,
    TaskIdentifier, TaskSpec, protobuf_decode, protobuf_encode,
};

/// A task whose input is a protobuf message.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoTask {
    #[prost(uint64, tag = "1")]
    n: u64,
    #[prost(string, tag = "2")]
    label: String,
}

impl TaskCodec for ProtoTask {
    fn encode_input(&self) -> Result<Vec<u8>> {
        protobuf_encode(self)
    }
    fn decode_input(input: &[u8]) -> Result<Self> {
        protobuf_decode(input)
    }
}

impl TaskSpec for ProtoTask {
    fn identifier() -> TaskIdentifier {
        TaskIdentifier::new("tests/ProtoTask", "v1.0")
    }
}

impl Task for ProtoTask {
    fn execute(&self, ctx: &TaskContext) -> std::result::Result<(), TaskError> {
        ctx.job_cache()?
            .put("seen", format!("{}:{}", self.label, self.n))?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_inputs_round_trip_through_the_server() {
    let task = ProtoTask {
        n: 42,
        label: "answer".into(),
    };
    assert_eq!(
        task.encode_input().unwrap(),
        prost::Message::encode_to_vec(&task)
    );
    let server = server().await;
    let client = client(&server.url());
    let cache = InMemoryCache::new();
    let job = client.jobs().submit("proto", &task).await.unwrap();
    let runner = client
        .runner()
        .cache(cache.clone())
        .register::<ProtoTask>()
        .build_async()
        .await
        .unwrap();
    runner.run_all_async().await.unwrap();
    assert_eq!(
        client.jobs().progress(job.id).await.unwrap().state,
        JobState::Completed
    );
    let seen = CacheGroup::for_job(Arc::new(cache), job.id)
        .get("seen")
        .unwrap()
        .unwrap();
    assert_eq!(seen, b"answer:42");
    server.shutdown().await;
}

#[test]
fn json_is_the_default_codec_with_field_names_as_written() {
    let node = Node::leaf("a");
    let json: serde_json::Value = serde_json::from_slice(&node.encode_input().unwrap()).unwrap();
    assert_eq!(json["name"], "a");
    assert_eq!(
        FibonacciTask { n: 7 }.encode_input().unwrap(),
        br#"{"N":7}"#
    );
    assert!(FibonacciTask::decode_input(b"not json").is_err());
}
