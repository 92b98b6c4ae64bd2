import { PolicyPack } from "@pulumi/policy";
import { POLICIES } from "./policies";

new PolicyPack("ssept-platform", { policies: POLICIES });
