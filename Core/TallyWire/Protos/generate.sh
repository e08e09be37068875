#!/usr/bin/env bash
# Regenerates Core/TallyWire/Generated from the .proto files. Not run in CI: it needs protoc
# (Debian: protobuf-compiler) and the two Swift plugins, built from the versions this package
# resolves (`swift package show-dependencies`) so the generated code matches their runtimes; last
# run with swift-protobuf 1.39.0, grpc-swift-protobuf 2.4.1 and grpc-swift-2 2.4.3. Both plugins
# build in one checkout of grpc/grpc-swift-protobuf at its tag, its dependencies held at those
# versions (it asks only for swift-protobuf 1.38.0 and grpc-swift-2 2.3.0 or later), in a few
# minutes on 2 cores:
#   swift package resolve swift-protobuf --version 1.39.0
#   swift package resolve grpc-swift-2 --version 2.4.3
#   swift build -c release --product protoc-gen-grpc-swift-2
#   swift build -c release --product protoc-gen-swift
# (protoc-gen-swift builds the same way in a checkout of apple/swift-protobuf at its tag.)
# Check that `protoc-gen-swift --version` and `protoc-gen-grpc-swift-2 --version` print those
# versions, then point PLUGINS at the folder holding both binaries (.build/release).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
plugins=${PLUGINS:?set PLUGINS to the folder with protoc-gen-swift and protoc-gen-grpc-swift-2}
out="$here/../Generated"
rm -f "$out"/*.swift
protoc --proto_path="$here" \
  --plugin=protoc-gen-swift="$plugins/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift="$plugins/protoc-gen-grpc-swift-2" \
  --swift_out="$out" --swift_opt=Visibility=Public,FileNaming=DropPath \
  --grpc-swift_out="$out" --grpc-swift_opt=Visibility=Public,FileNaming=DropPath,Client=true,Server=true \
  "$here"/tally/v1/*.proto
echo "generated: $(ls "$out")"
