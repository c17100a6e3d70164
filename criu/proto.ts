/**
 * The protobuf runtime for CRIU's RPC messages (criu/rpc_pb.ts is generated from
 * rpc.proto by scripts/gen_criu_proto.sh with the matching protoc-gen-es). One pinned
 * import, as a full `npm:` specifier so a module imported from a URL resolves it too.
 *
 * @module
 */

export { create, fromBinary, isFieldSet, toBinary } from "npm:@bufbuild/protobuf@2.17.0";
export * from "./rpc_pb.ts";
