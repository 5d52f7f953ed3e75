// Health check of the compose MongoDB (run by mongosh inside the mongo container).
// The first time, it makes the node a one-member replica set "rs0"; afterwards it only
// reports whether the node is the writable primary. Applications connect with
// ?replicaSet=rs0, so they wait for this before they start (depends_on: service_healthy).
const memberHost = process.env.MONGO_REPLICA_HOST || "mongo:27017";

try {
  rs.status();
} catch (error) {
  if (error.codeName !== "NotYetInitialized" && error.code !== 94) {
    throw error;
  }
  rs.initiate({ _id: "rs0", members: [{ _id: 0, host: memberHost }] });
}

quit(db.hello().isWritablePrimary ? 0 : 1);
