//! The Connect unary codec: every request and response path, without I/O.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use prost::Message;
use tilebox_core::connect::{self, decode_response, encode_request, error_body, gunzip, gzip};
use tilebox_core::wire::datasets::v1 as pb;
use tilebox_core::{ClientConfig, Code, Error};

fn config(url: &str, key: Option<&str>) -> ClientConfig {
    let b = ClientConfig::builder().url(url);
    match key {
        Some(k) => b.api_key(k),
        None => b.anonymous(),
    }
    .build()
}

fn sample() -> pb::ListDatasetsResponse {
    pb::ListDatasetsResponse {
        datasets: vec![pb::Dataset {
            name: "Sentinel-2 MSI".into(),
            slug: "open_data.copernicus.sentinel2_msi".into(),
            permissions: vec![1, 2],
            ..Default::default()
        }],
        server_message: "hello".into(),
        maximum_owned_datasets: Some(0),
        ..Default::default()
    }
}

fn response(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Response<Bytes> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.into()).unwrap()
}

fn proto_ok(body: impl Into<Bytes>) -> Response<Bytes> {
    response(200, &[("content-type", "application/proto")], body)
}

#[test]
fn request_has_connect_headers_and_path() {
    let c = config("http://127.0.0.1:8080/", Some("tbx-api-key"));
    let req = encode_request(
        &c,
        "datasets.v1.DatasetService/ListDatasets",
        &pb::ListDatasetsRequest::default(),
    )
    .unwrap();
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(
        req.uri(),
        "http://127.0.0.1:8080/datasets.v1.DatasetService/ListDatasets"
    );
    let h = req.headers();
    assert_eq!(h["content-type"], "application/proto");
    assert_eq!(h["connect-protocol-version"], "1");
    // A loopback server: compressing would only cost CPU, so the default asks for identity.
    assert_eq!(h["accept-encoding"], "identity");
    assert_eq!(h["authorization"], "Bearer tbx-api-key");
    assert!(
        h["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("tilebox-rust/")
    );
    assert!(h.get("content-encoding").is_none());
    assert!(h.get("connect-timeout-ms").is_none());
    assert!(req.body().is_empty());
}

#[test]
fn anonymous_request_has_no_authorization_and_hosted_url_gets_public_prefix() {
    let c = config("https://api.tilebox.com", None);
    let req = encode_request(
        &c,
        "datasets.v1.DatasetService/ListDatasets",
        &pb::ListDatasetsRequest::default(),
    )
    .unwrap();
    assert!(req.headers().get("authorization").is_none());
    assert_eq!(
        req.uri(),
        "https://api.tilebox.com/public/datasets.v1.DatasetService/ListDatasets"
    );

    let c = config("https://api.tilebox.com", Some("k"));
    let req = encode_request(
        &c,
        "datasets.v1.DatasetService/ListDatasets",
        &pb::ListDatasetsRequest::default(),
    )
    .unwrap();
    assert_eq!(
        req.uri(),
        "https://api.tilebox.com/datasets.v1.DatasetService/ListDatasets"
    );
}

#[test]
fn gzip_request_body_round_trips() {
    let c = ClientConfig::builder()
        .url("http://h:1")
        .anonymous()
        .gzip_requests(true)
        .build();
    let msg = pb::GetDatasetRequest {
        slug: "open_data.asf.ers_sar".into(),
        id: None,
    };
    let req = encode_request(&c, "datasets.v1.DatasetService/GetDataset", &msg).unwrap();
    assert_eq!(req.headers()["content-encoding"], "gzip");
    assert!(req.body().starts_with(&[0x1f, 0x8b]));
    let plain = connect::decode_body(req.headers(), req.body().clone()).unwrap();
    assert_eq!(pb::GetDatasetRequest::decode(plain).unwrap(), msg);
}

#[test]
fn timeout_becomes_connect_timeout_header() {
    let c = ClientConfig::builder()
        .url("http://h:1")
        .timeout(Duration::from_millis(2500))
        .build();
    let req = encode_request(&c, "a.B/C", &pb::Any::default()).unwrap();
    assert_eq!(req.headers()["connect-timeout-ms"], "2500");
}

#[test]
fn decodes_plain_proto() {
    let body = sample().encode_to_vec();
    let got: pb::ListDatasetsResponse = decode_response(proto_ok(body)).unwrap();
    assert_eq!(got, sample());
}

#[test]
fn decodes_gzip_proto_by_header() {
    let body = gzip(&sample().encode_to_vec());
    let resp = response(
        200,
        &[
            ("content-type", "application/proto"),
            ("content-encoding", "gzip"),
        ],
        body.clone(),
    );
    let got: pb::ListDatasetsResponse = decode_response(resp).unwrap();
    assert_eq!(got, sample());
    // Without the header the gzip bytes are taken as a message and fail to decode: the header decides.
    let err = decode_response::<pb::ListDatasetsResponse>(proto_ok(body)).unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
}

#[test]
fn identity_encoding_and_content_type_parameters_are_accepted() {
    let resp = response(
        200,
        &[
            ("content-type", "application/proto; charset=utf-8"),
            ("content-encoding", "identity"),
        ],
        sample().encode_to_vec(),
    );
    assert_eq!(
        decode_response::<pb::ListDatasetsResponse>(resp).unwrap(),
        sample()
    );
}

#[test]
fn empty_body_is_the_default_message() {
    let got: pb::DeleteCollectionResponse = decode_response(proto_ok(Bytes::new())).unwrap();
    assert_eq!(got, pb::DeleteCollectionResponse::default());
}

#[test]
fn wrong_or_missing_content_type_is_a_protocol_error() {
    for ct in [
        Some("application/json"),
        Some("application/connect+proto"),
        Some("text/html"),
        None,
    ] {
        let headers: Vec<(&str, &str)> = ct.map(|c| ("content-type", c)).into_iter().collect();
        let resp = response(200, &headers, sample().encode_to_vec());
        let err = decode_response::<pb::ListDatasetsResponse>(resp).unwrap_err();
        match err {
            Error::Protocol { message } => assert!(message.contains("content type"), "{message}"),
            other => panic!("expected protocol error for {ct:?}, got {other:?}"),
        }
    }
}

#[test]
fn truncated_body_is_a_protocol_error() {
    let body = sample().encode_to_vec();
    let cut = Bytes::copy_from_slice(&body[..body.len() - 3]);
    let err = decode_response::<pb::ListDatasetsResponse>(proto_ok(cut)).unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");

    // Truncated gzip stream.
    let gz = gzip(&body);
    let resp = response(
        200,
        &[
            ("content-type", "application/proto"),
            ("content-encoding", "gzip"),
        ],
        gz.slice(..gz.len() / 2),
    );
    let err = decode_response::<pb::ListDatasetsResponse>(resp).unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
}

#[test]
fn bad_gzip_is_a_protocol_error() {
    let resp = response(
        200,
        &[
            ("content-type", "application/proto"),
            ("content-encoding", "gzip"),
        ],
        sample().encode_to_vec(),
    );
    match decode_response::<pb::ListDatasetsResponse>(resp).unwrap_err() {
        Error::Protocol { message } => assert!(message.contains("gzip"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(gunzip(b"not gzip at all").is_err());
}

#[test]
fn unsupported_content_encoding_is_a_protocol_error() {
    let resp = response(
        200,
        &[
            ("content-type", "application/proto"),
            ("content-encoding", "br"),
        ],
        Bytes::new(),
    );
    let err = decode_response::<pb::Any>(resp).unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
}

#[test]
fn every_connect_code_is_decoded_by_code_not_status() {
    for code in Code::ALL {
        // Deliberately use a status that does not match the code (older servers used other statuses).
        let resp = response(
            418,
            &[("content-type", "application/json")],
            error_body(code, "the message"),
        );
        let err = decode_response::<pb::Any>(resp).unwrap_err();
        let expected_code = match code {
            Code::ResourceExhausted => Code::Unavailable,
            c => c,
        };
        assert_eq!(err.code(), Some(expected_code), "{code}: {err:?}");
        match (&err, code) {
            (Error::NotFound { message }, Code::NotFound)
            | (Error::InvalidArgument { message }, Code::InvalidArgument)
            | (Error::Unauthenticated { message }, Code::Unauthenticated)
            | (Error::PermissionDenied { message }, Code::PermissionDenied) => {
                assert_eq!(message, "the message")
            }
            (
                Error::Unavailable {
                    message,
                    attempts: 1,
                },
                Code::Unavailable | Code::ResourceExhausted,
            ) => {
                assert_eq!(message, "the message")
            }
            (Error::Cancelled, Code::Canceled) => {}
            (Error::Server { code: c, message }, _) => {
                assert_eq!(*c, code);
                assert_eq!(message, "the message");
            }
            (other, code) => panic!("unexpected mapping of {code}: {other:?}"),
        }
        if code != Code::Canceled {
            assert!(err.to_string().contains("the message"), "{err}");
        }
    }
}

#[test]
fn connect_error_with_details_and_gzip() {
    let body = br#"{"code":"not_found","message":"no such dataset","details":[{"type":"google.rpc.ErrorInfo","value":"CgRhYmNk","debug":{"x":1}}]}"#;
    let resp = response(
        404,
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        gzip(body),
    );
    let err = decode_response::<pb::Dataset>(resp).unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { message } if message == "no such dataset"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "not found: no such dataset");
}

#[test]
fn unknown_code_string_is_unknown() {
    let resp = response(
        500,
        &[("content-type", "application/json")],
        r#"{"code":"weird","message":"m"}"#,
    );
    let err = decode_response::<pb::Any>(resp).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Server {
                code: Code::Unknown,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn non_connect_error_bodies_fall_back_to_http_status() {
    let cases = [
        (400, Code::Internal),
        (401, Code::Unauthenticated),
        (403, Code::PermissionDenied),
        (404, Code::Unimplemented),
        (429, Code::Unavailable),
        (502, Code::Unavailable),
        (503, Code::Unavailable),
        (504, Code::Unavailable),
        (500, Code::Unknown),
        (405, Code::Unknown),
        (415, Code::Unknown),
    ];
    for (status, code) in cases {
        for (ct, body) in [
            ("text/html", "<html><body>Bad Gateway</body></html>"),
            ("application/json", r#"{"error":"no code here"}"#),
            ("application/json", "not json"),
            ("text/plain", ""),
        ] {
            let resp = response(status, &[("content-type", ct)], body);
            let err = decode_response::<pb::Any>(resp).unwrap_err();
            assert_eq!(
                err.code(),
                Some(code),
                "status {status} body {body:?}: {err:?}"
            );
            assert!(err.to_string().contains(&format!("HTTP {status}")), "{err}");
        }
    }
    let status = StatusCode::from_u16(502).unwrap();
    let err = connect::decode_error(
        status,
        &http::HeaderMap::new(),
        &Bytes::from_static(b"upstream down"),
    );
    assert!(matches!(err, Error::Unavailable { .. }));
    assert!(err.to_string().contains("upstream down"));
}

/// `Accept-Encoding` follows the response-compression setting; `Auto` asks for gzip except from loopback hosts.
#[test]
fn accept_encoding_follows_response_compression() {
    use tilebox_core::ResponseCompression;
    let accept = |url: &str, compression: ResponseCompression| {
        let c = ClientConfig::builder()
            .url(url)
            .anonymous()
            .response_compression(compression)
            .build_with_env(|_| None);
        let req = encode_request(
            &c,
            "datasets.v1.DatasetService/ListDatasets",
            &pb::ListDatasetsRequest::default(),
        )
        .unwrap();
        req.headers()["accept-encoding"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    for url in [
        "https://api.tilebox.com",
        "http://10.1.2.3:8080",
        "http://example.org",
    ] {
        assert_eq!(accept(url, ResponseCompression::Auto), "gzip", "{url}");
    }
    for url in [
        "http://127.0.0.1:8080",
        "http://127.8.0.1",
        "http://localhost:1",
        "http://[::1]:8080",
    ] {
        assert_eq!(accept(url, ResponseCompression::Auto), "identity", "{url}");
    }
    assert_eq!(
        accept("http://127.0.0.1:8080", ResponseCompression::Gzip),
        "gzip"
    );
    assert_eq!(
        accept("https://api.tilebox.com", ResponseCompression::Identity),
        "identity"
    );
}
