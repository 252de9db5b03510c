import { Module } from '@nestjs/common';
import { ObjectsModule } from '#objects';
import { PackagesModule } from '#packages';
import { UserSpacesModule } from '#user-spaces';
import { PackageTransferService } from './package-transfer.service.js';

/** Package import from and export to a user space's folders (`userSpace/createPackage`, `userSpace/loadPackage`). */
@Module({ imports: [UserSpacesModule, PackagesModule, ObjectsModule], providers: [PackageTransferService], exports: [PackageTransferService] })
export class PackageTransferModule {}
