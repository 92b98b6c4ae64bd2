import { teardownBuildCache } from "./buildCache";

export default teardownBuildCache;
